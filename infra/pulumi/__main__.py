"""`pulumi up` here builds imagepipe on AWS (docs/deploy.md); components: imagepipe_infra/."""

import pulumi
from imagepipe_infra.config import StackConfig
from imagepipe_infra.stack import build

for key, value in build(StackConfig.load()).items():
    pulumi.export(key, value)
