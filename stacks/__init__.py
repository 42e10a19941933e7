"""CDK stacks and constructs. They share schema, recipe and naming code with the Lambda runtime: that core
lives in the Lambda asset root `lambdas/` and is installed (editable) into the venv by `make bootstrap`
(pyproject.toml), so `from common.recipes import Recipe` works here as it does in Lambda."""
