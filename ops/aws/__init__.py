"""AWS adapters: boto3 clients, CloudFormation, the function, the CDK assembly, the target."""
