"""The two Lambda@Edge functions, built from edge/ as an asset, in us-east-1, versions published."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi_aws.cloudfront import (
    DistributionOrderedCacheBehaviorLambdaFunctionAssociationArgsDict as EdgeAssociation,
)

from imagepipe_infra import iam
from imagepipe_infra.shared import edge_files

# CloudFront event -> the handler in edge/ (their docstrings say what each does).
HANDLERS = {
    "viewer-request": "edge.viewer_request.handler",
    "origin-response": "edge.origin_response.handler",
}
TIMEOUTS = {"viewer-request": 5, "origin-response": 10}  # seconds; viewer events allow at most 5


@dataclass(frozen=True)
class EdgeArgs:
    us_east_1: aws.Provider  # Lambda@Edge functions live in us-east-1, whatever the stack's region
    runtime: str = "python3.12"


class EdgeFunctions(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:edge:EdgeFunctions", name, None, opts)
        in_us_east_1 = pulumi.ResourceOptions(parent=self, provider=args.us_east_1)
        # Only logs: the functions read nothing but the request and response they are handed.
        # Lambda@Edge logs in the region that served the request, as /aws/lambda/us-east-1.<fn>.
        edge_role = iam.role(
            f"{name}-edge",
            [
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [
                        "arn:aws:logs:*:*:log-group:/aws/lambda/us-east-1.*",
                        "arn:aws:logs:*:*:log-group:/aws/lambda/us-east-1.*:*",
                    ],
                }
            ],
            self,
            services=("lambda.amazonaws.com", "edgelambda.amazonaws.com"),
        )
        bundle = pulumi.AssetArchive(
            {path: pulumi.FileAsset(str(file)) for path, file in edge_files().items()}
        )
        self.functions: dict[str, aws.lambda_.Function] = {}
        for event, handler in HANDLERS.items():
            self.functions[event] = aws.lambda_.Function(
                f"{name}-{event}",
                code=bundle,
                handler=handler,
                runtime=args.runtime,
                role=edge_role.arn,
                publish=True,  # CloudFront attaches a numbered version, never $LATEST
                timeout=TIMEOUTS[event],
                memory_size=128,
                opts=in_us_east_1,
            )
        self.associations: list[EdgeAssociation] = [
            {"event_type": event, "lambda_arn": fn.qualified_arn, "include_body": False}
            for event, fn in self.functions.items()
        ]
        self.register_outputs({e: f.qualified_arn for e, f in self.functions.items()})
