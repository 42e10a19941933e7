"""In-memory stand-ins for AWS services moto does not cover, driven by a simulated clock."""
