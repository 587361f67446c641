# Valkey for discovery's cache of RDS answers and the RDS budget shared by every process
# (the app's [redis] url; k8s/services/ maps the name `valkey` to this endpoint).

resource "aws_elasticache_subnet_group" "valkey" {
  name       = "${local.name}-valkey"
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_security_group" "valkey" {
  name        = "${local.name}-valkey"
  description = "Valkey: reachable from the EKS cluster only"
  vpc_id      = aws_vpc.main.id

  ingress {
    description     = "Valkey from the cluster's nodes and pods"
    from_port       = 6379
    to_port         = 6379
    protocol        = "tcp"
    security_groups = [aws_eks_cluster.main.vpc_config[0].cluster_security_group_id]
  }

  egress {
    description = "Replication between the group's own nodes"
    from_port   = 6379
    to_port     = 6379
    protocol    = "tcp"
    self        = true
  }
}

resource "aws_elasticache_replication_group" "valkey" {
  # checkov:skip=CKV_AWS_30: no in-transit encryption: the redis crate is built without TLS (dataplane/Cargo.toml: tokio-comp only), so a TLS endpoint could not be reached; traffic stays inside the VPC and the security group admits the cluster only.
  # checkov:skip=CKV2_AWS_50: failover follows var.valkey_replicas: on in production (1 replica), off in the PoC's single node; the shippers keep working without Valkey (local RDS budget, direct listing).
  # checkov:skip=CKV_AWS_31: no AUTH token: it requires in-transit encryption (see CKV_AWS_30); access is limited by the security group.
  replication_group_id       = "${local.name}-valkey"
  description                = "aurora-logs: RDS answer cache and shared RDS budget"
  engine                     = "valkey"
  engine_version             = "8.0"
  node_type                  = var.valkey_node_type
  num_cache_clusters         = 1 + var.valkey_replicas
  automatic_failover_enabled = var.valkey_replicas > 0
  multi_az_enabled           = var.valkey_replicas > 0
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.valkey.name
  security_group_ids         = [aws_security_group.valkey.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = false
  snapshot_retention_limit   = 1
  auto_minor_version_upgrade = true
  apply_immediately          = var.environment != "production"
}
