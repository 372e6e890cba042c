"""The CDK app: a stateful model store stack and a service stack (function, batch, monitoring)."""
