# The EKS cluster, its Graviton (arm64) node group and the add-ons the manifests rely on:
# the EBS CSI driver (Kafka's and OpenObserve's volumes) and the Pod Identity agent.

resource "aws_iam_role" "cluster" {
  name = "${local.name}-eks-cluster"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_cloudwatch_log_group" "eks" {
  # The name EKS writes its control plane logs to.
  name              = "/aws/eks/${local.name}/cluster"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_eks_cluster" "main" {
  name     = local.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  # Access entries only (no aws-auth ConfigMap). Whoever runs terraform is the cluster's admin;
  # the deployers and viewers get their Kubernetes groups below, bound in k8s/setup.yaml.
  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  vpc_config {
    subnet_ids              = aws_subnet.private[*].id
    endpoint_private_access = true
    endpoint_public_access  = length(var.api_allowed_cidrs) > 0
    public_access_cidrs     = length(var.api_allowed_cidrs) > 0 ? var.api_allowed_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.main.arn
    }
  }

  depends_on = [aws_iam_role_policy_attachment.cluster, aws_cloudwatch_log_group.eks]
}

resource "aws_iam_role" "node" {
  name = "${local.name}-eks-node"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
  ])
  role       = aws_iam_role.node.name
  policy_arn = each.value
}

resource "aws_launch_template" "node" {
  name_prefix = "${local.name}-node-"

  # IMDSv2 only, and one hop: pods get AWS credentials from Pod Identity, never from the node.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = var.node_disk_gb
      volume_type = "gp3"
      encrypted   = true
      kms_key_id  = aws_kms_key.main.arn
    }
  }
}

# Graviton: the AMI type and the instance types are arm64; the processor Deployment is pinned
# to kubernetes.io/arch=arm64.
resource "aws_eks_node_group" "graviton" {
  cluster_name    = aws_eks_cluster.main.name
  node_group_name = "graviton"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = aws_subnet.private[*].id
  ami_type        = "AL2023_ARM_64_STANDARD"
  capacity_type   = "ON_DEMAND"
  instance_types  = var.node_instance_types

  launch_template {
    id      = aws_launch_template.node.id
    version = aws_launch_template.node.latest_version
  }

  scaling_config {
    min_size     = var.node_min
    desired_size = var.node_desired
    max_size     = var.node_max
  }

  # The Cluster Autoscaler (k8s/cluster-autoscaler.yaml) owns the size between min and max.
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }

  update_config {
    max_unavailable = 1
  }

  labels = {
    "aurora-logs/pool" = "graviton"
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}

resource "aws_eks_addon" "core" {
  for_each     = toset(["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"])
  cluster_name = aws_eks_cluster.main.name
  addon_name   = each.key
  # The VPC CNI enforces k8s/policies/network-policies.yaml only with this on.
  configuration_values = each.key == "vpc-cni" ? jsonencode({ enableNetworkPolicy = "true" }) : null
  depends_on           = [aws_eks_node_group.graviton]
}

# The EBS CSI driver, with its controller's AWS role through Pod Identity.
resource "aws_iam_role" "ebs_csi" {
  name               = "${local.name}-ebs-csi"
  assume_role_policy = local.pod_identity_trust
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

resource "aws_eks_addon" "ebs_csi" {
  cluster_name = aws_eks_cluster.main.name
  addon_name   = "aws-ebs-csi-driver"

  pod_identity_association {
    role_arn        = aws_iam_role.ebs_csi.arn
    service_account = "ebs-csi-controller-sa"
  }

  depends_on = [aws_eks_addon.core, aws_iam_role_policy_attachment.ebs_csi]
}

# The Cluster Autoscaler (k8s/cluster-autoscaler.yaml, in kube-system): adds nodes while pods
# are pending, up to node_max, and removes idle ones. EKS tags the managed node group's Auto
# Scaling group with k8s.io/cluster-autoscaler/<cluster>=owned, which its policy requires.
resource "aws_iam_role" "cluster_autoscaler" {
  name               = "${local.name}-cluster-autoscaler"
  assume_role_policy = local.pod_identity_trust
}

resource "aws_iam_role_policy" "cluster_autoscaler" {
  name   = "cluster-autoscaler-policy"
  role   = aws_iam_role.cluster_autoscaler.id
  policy = templatefile("${path.module}/../iam/cluster-autoscaler-policy.json", { cluster_name = local.name })
}

resource "aws_eks_pod_identity_association" "cluster_autoscaler" {
  cluster_name    = aws_eks_cluster.main.name
  namespace       = "kube-system"
  service_account = "cluster-autoscaler"
  role_arn        = aws_iam_role.cluster_autoscaler.arn
  depends_on      = [aws_eks_addon.core]
}

# Who deploys (CI roles; k8s/setup.yaml's Role aurora-logs-deployer in the namespace only) and
# who may look (the cluster role `view` in the namespace): Kubernetes groups by access entry.
# A cluster admin applies setup.yaml once (deploy-aurora-logs.sh --setup).
locals {
  # principal ARN => its Kubernetes group (a principal in both lists deploys).
  access_groups = merge(
    { for arn in var.viewer_principal_arns : arn => "aurora-logs-viewers" },
    { for arn in var.deployer_principal_arns : arn => "aurora-logs-deployers" },
  )
}

resource "aws_eks_access_entry" "namespace" {
  for_each          = local.access_groups
  cluster_name      = aws_eks_cluster.main.name
  principal_arn     = each.key
  kubernetes_groups = [each.value]
  type              = "STANDARD"
}
