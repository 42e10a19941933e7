"""CDK stacks and constructs. The stacks share schema, recipe and naming code with the Lambda runtime,
whose asset root is `lambdas/`; putting it on the path here lets both import it the same way."""

import sys
from pathlib import Path

_LAMBDA_ROOT = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDA_ROOT not in sys.path:
    sys.path.insert(0, _LAMBDA_ROOT)
