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
  description = "DB instance identifiers the shippers may read logs of: a prefix such as prod-aurora-*, or * (refused in production)."
  type        = string
  default     = "*"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]*[*]?$", var.rds_instances)) && var.rds_instances != ""
    error_message = "rds_instances is a DB instance identifier, or a prefix of one ending in *."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version, in EKS standard support (14 months from each version's EKS release; extended support costs more per cluster hour): move it up with EKS. k8s/ is validated against this version's schemas (scripts/deploy-checks.sh K8S_VERSION)."
  type        = string
  default     = "1.35"

  validation {
    condition     = can(regex("^1\\.(3[5-9]|[4-9][0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version is 1.N with N >= 35: older versions are past EKS standard support."
  }
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

variable "nat_per_az" {
  description = "One NAT gateway per availability zone (true: no AZ depends on another's gateway) or one for all (false: cheaper, a PoC's choice)."
  type        = bool
  default     = true
}

variable "node_instance_types" {
  description = "Graviton (arm64) instance types of the application node group, newest generation first (Graviton4, then Graviton3 where an AZ lacks capacity)."
  type        = list(string)
  default     = ["m8g.large", "m7g.large"]
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

variable "deployer_principal_arns" {
  description = "IAM roles or users that run k8s/deploy-aurora-logs.sh (CI): mapped to the Kubernetes group aurora-logs-deployers, which k8s/setup.yaml lets deploy in the namespace only."
  type        = list(string)
  default     = []
}

variable "viewer_principal_arns" {
  description = "IAM roles or users that may look at the namespace (pods, logs, events): the Kubernetes group aurora-logs-viewers."
  type        = list(string)
  default     = []
}
