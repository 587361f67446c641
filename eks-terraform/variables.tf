variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "aurora-logs"
}

variable "environment" {
  description = "poc or production; part of every name and the default tags."
  type        = string
  default     = "poc"

  validation {
    condition     = contains(["poc", "production"], var.environment)
    error_message = "environment must be poc or production."
  }
}

variable "region" {
  description = "Region of the cluster, the state table, Valkey and the bucket."
  type        = string
  default     = "us-east-1"
}

variable "availability_zones" {
  description = "Availability zones of the subnets (two or three of var.region), named so that the set never changes by itself."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]
}

variable "rds_region" {
  description = "Region of the Aurora instances whose logs are shipped (the app's rds.region)."
  type        = string
  default     = "us-east-1"
}

variable "rds_instances" {
  description = "DB instance identifiers the shippers may read logs of: * or a prefix such as prod-*."
  type        = string
  default     = "*"
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (k8s/ is validated against the schemas of this version)."
  type        = string
  default     = "1.33"
}

variable "vpc_cidr" {
  description = "CIDR of the cluster's VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "api_allowed_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint (your office or VPN); empty turns public access off."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Graviton (arm64) instance types of the application node group."
  type        = list(string)
  default     = ["m6g.large"]
}

variable "node_min" {
  description = "Smallest size of the application node group."
  type        = number
  default     = 2
}

variable "node_desired" {
  description = "Initial size of the application node group."
  type        = number
  default     = 3
}

variable "node_max" {
  description = "Largest size of the application node group (room for the processor HPA)."
  type        = number
  default     = 6
}

variable "node_disk_gb" {
  description = "Root volume of each node, GiB."
  type        = number
  default     = 50
}

variable "dynamodb_table" {
  description = "Name of the file state table; the app's dynamodb.table (contract::state::DEFAULT_TABLE)."
  type        = string
  default     = "aurora-logs-files"
}

variable "valkey_node_type" {
  description = "ElastiCache node type (Graviton)."
  type        = string
  default     = "cache.t4g.small"
}

variable "valkey_replicas" {
  description = "Valkey replicas beside the primary (0 for a PoC)."
  type        = number
  default     = 1
}

variable "openobserve_bucket" {
  description = "S3 bucket of OpenObserve's data; globally unique."
  type        = string
}

variable "openobserve_retention_days" {
  description = "Objects older than this are deleted; at least OPENOBSERVE_RETENTION_DAYS of k8s/values-<env>.yaml (OpenObserve's own retention), which tests/deploy.rs checks."
  type        = number
  default     = 90
}

variable "namespace" {
  description = "Kubernetes namespace of k8s/setup.yaml."
  type        = string
  default     = "aurora-logs"
}
