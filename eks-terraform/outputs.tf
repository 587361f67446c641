# What k8s/deploy-aurora-logs.sh needs (k8s/values-*.yaml): see the README's "Deploy on EKS".

output "cluster_name" {
  description = "aws eks update-kubeconfig --name <this>"
  value       = aws_eks_cluster.main.name
}

output "ecr_repository_url" {
  description = "IMAGE in k8s/values-*.yaml is <this>:<tag>"
  value       = aws_ecr_repository.aurora_logs.repository_url
}

output "valkey_endpoint" {
  description = "VALKEY_HOST in k8s/values-*.yaml"
  value       = aws_elasticache_replication_group.valkey.primary_endpoint_address
}

output "dynamodb_table" {
  description = "DYNAMODB_TABLE in k8s/values-*.yaml"
  value       = aws_dynamodb_table.files.name
}

output "openobserve_bucket" {
  description = "OPENOBSERVE_BUCKET in k8s/values-*.yaml"
  value       = aws_s3_bucket.openobserve.bucket
}

output "region" {
  description = "AWS_REGION / DYNAMODB_REGION in k8s/values-*.yaml"
  value       = var.region
}

output "vpc_cidr" {
  description = "The VPC's CIDR: VPC_CIDR in k8s/values-*.yaml (the pods' egress to Valkey)."
  value       = aws_vpc.main.cidr_block
}

output "valkey_user" {
  description = "VALKEY_USER in k8s/values-*.yaml: the shippers' IAM-authenticated Valkey user."
  value       = aws_elasticache_user.shippers.user_name
}

output "valkey_cache" {
  description = "VALKEY_CACHE in k8s/values-*.yaml: the replication group the IAM token is for."
  value       = aws_elasticache_replication_group.valkey.replication_group_id
}
