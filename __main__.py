"""The repo's own Pulumi program: an ImageRegistry from the inventory and settings in Pulumi config.

    pulumi config set pulumi-kk:inventory examples/inventory/localhost.yaml
    pulumi config set pulumi-kk:set "docker_version=24.0.7,dockercompose_version=v2.20.3"
    pulumi up
"""

from pulumi_kk.stack import program

program()
