"""What a user gives ops, read and checked: rows (``payloads``), row files and a batch's input
(``batch_io``), and single values (``validate``), each refused with an error naming the field
and the fix."""
