"""Cloud VMs and an S3 bucket → the registry on them, built from their outputs.

AWS (``pulumi_aws``): N EC2 instances in a subnet (given, or the default VPC's), their key pair, security group and
an instance role that may use the bucket; the bucket itself comes from ``pulumi_kk.storage.S3Bucket``. The registry
hosts are built in Python from the instances' outputs (``Host(address=vm.private_ip, ...)``), so Pulumi creates the
VMs first and runs every install step once their addresses are known. See README.md.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from pulumi_kk.components.image_registry import ImageRegistry
from pulumi_kk.inventory import Host, Inventory
from pulumi_kk.settings.load import deep_merge
from pulumi_kk.sources import load_sources
from pulumi_kk.storage import S3Bucket

#: Ubuntu 24.04 LTS (Canonical's account): systemd, tar and iptables out of the box.
UBUNTU_OWNER = "099720109477"
UBUNTU_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
#: pulumi-kk runs its scripts as the SSH user without sudo: let the key pair log in as root (cloud-init otherwise
#: answers root logins with "Please login as the user ubuntu").
USER_DATA = "#cloud-config\ndisable_root: false\n"

config = pulumi.Config()
nodes = config.get_int("nodes") or 2
instance_type = config.get("instanceType") or "t3.xlarge"  # 4 vCPU, 16 GiB: the precheck wants >= 8 GB
connect_via = config.get("connectVia") or "private"
if connect_via not in ("private", "public"):
    raise ValueError(f"connectVia must be 'private' or 'public', not {connect_via!r}")
bucket_name = config.get("bucket") or f"{pulumi.get_project()}-{pulumi.get_stack()}-registry".lower()
tags = {"app": "image-registry", "pulumi-stack": pulumi.get_stack()}

# --- network: a given subnet, or the first default subnet of the default VPC ---------------------------------------
subnet_id: pulumi.Input[str] | None = config.get("subnetId")
if subnet_id is None:
    default_vpc = aws.ec2.get_vpc_output(default=True)
    subnet_id = aws.ec2.get_subnets_output(filters=default_vpc.id.apply(lambda vpc: [
        aws.ec2.GetSubnetsFilterArgs(name="vpc-id", values=[vpc]),
        aws.ec2.GetSubnetsFilterArgs(name="default-for-az", values=["true"]),
    ])).ids[0]
subnet = aws.ec2.get_subnet_output(id=subnet_id)
vpc_cidr = aws.ec2.get_vpc_output(id=subnet.vpc_id).cidr_block
ssh_cidr = config.get("sshCidr") or vpc_cidr  # where `pulumi up` connects from
client_cidr = config.get("clientCidr") or vpc_cidr  # who may pull and push

firewall = aws.ec2.SecurityGroup(
    "registry",
    description="pulumi-kk image registry nodes",
    vpc_id=subnet.vpc_id,
    ingress=[
        {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": [ssh_cidr], "description": "SSH"},
        {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [client_cidr],
         "description": "registry clients"},
        {"protocol": "-1", "from_port": 0, "to_port": 0, "self": True, "description": "between the nodes"},
    ],
    egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
    tags=tags,
)

# --- the bucket, and an instance role that lets the registry use it (no keys on the hosts) -------------------------
bucket = S3Bucket("registry-bucket", bucket=bucket_name, versioning=True,
                  force_destroy=config.get_bool("forceDestroy") or False, tags=tags)


def bucket_policy(name: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Resource": f"arn:aws:s3:::{name}",
         "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]},
        {"Effect": "Allow", "Resource": f"arn:aws:s3:::{name}/*",
         "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListMultipartUploadParts",
                    "s3:AbortMultipartUpload"]},
    ]})


role = aws.iam.Role("registry", tags=tags, assume_role_policy=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}))
policy = aws.iam.RolePolicy("registry-s3-access", role=role.id, policy=bucket.bucket.apply(bucket_policy))
profile = aws.iam.InstanceProfile("registry", role=role.name, tags=tags)

# --- the VMs ---------------------------------------------------------------------------------------------------------
key = aws.ec2.KeyPair("registry", public_key=config.require("sshPublicKey"), tags=tags)
ami = config.get("ami") or aws.ec2.get_ami_output(
    most_recent=True, owners=[UBUNTU_OWNER], filters=[{"name": "name", "values": [UBUNTU_NAME]}]).id
vms = [
    aws.ec2.Instance(
        f"registry-{i + 1}",
        ami=ami,
        instance_type=instance_type,
        subnet_id=subnet.id,
        vpc_security_group_ids=[firewall.id],
        key_name=key.key_name,
        iam_instance_profile=profile.name,
        user_data=USER_DATA,
        associate_public_ip_address=connect_via == "public" or None,
        root_block_device={"volume_size": 30, "volume_type": "gp3", "encrypted": True},
        # IMDSv2; 2 hops so the registry container can get the instance role's credentials.
        metadata_options={"http_tokens": "required", "http_put_response_hop_limit": 2},
        tags={**tags, "Name": f"{pulumi.get_stack()}-registry-{i + 1}"},
    )
    for i in range(nodes)
]

# --- the registry on them ------------------------------------------------------------------------------------------
private_key = config.require_secret("sshPrivateKey")
hosts = [
    Host(
        name=f"node{i + 1}",
        address=vm.private_ip if connect_via == "private" else vm.public_ip,
        internal_ipv4=vm.private_ip,  # what clients, certificates and the other nodes use
        user="root",
        private_key=private_key,
        arch="amd64",
    )
    for i, vm in enumerate(vms)
]
defaults: dict[str, Any] = {"image_registry": {
    "type": "registry",
    # object storage in the settings too (several nodes on local disks would each keep different images);
    # the bucket's own block below fills in the rest
    "registry": {"storage": {"s3": {"bucket": bucket_name}}},
}}
settings = deep_merge(defaults, config.get_object("settings") or {})
sources = load_sources(Inventory.from_hosts(hosts), pulumi_config=settings)
# No keys: the registry uses the instance role. Waiting for the role's policy keeps the first push from failing.
storage = pulumi.Output.all(bucket.registry_storage(root_directory="/registry"), policy.id).apply(lambda a: a[0])
registry = ImageRegistry("registry", sources.inventory, sources.settings, storage=storage)

pulumi.export("bucket", bucket.bucket)
pulumi.export("instances", [vm.id for vm in vms])
pulumi.export("private_ips", [vm.private_ip for vm in vms])
pulumi.export("public_ips", [vm.public_ip for vm in vms])
pulumi.export("url", registry.url)
pulumi.export("endpoint", registry.endpoint)
pulumi.export("ca_cert", registry.ca_cert)
pulumi.export("username", registry.username)
pulumi.export("password", registry.password)  # a secret: `pulumi stack output password --show-secrets`
