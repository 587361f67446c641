# One customer-managed key for EKS secrets, the bucket, the state table, Valkey, ECR and logs.
resource "aws_kms_key" "main" {
  description             = "${local.name}: EKS secrets, S3, DynamoDB, ElastiCache, ECR, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # The state table is encrypted with this key: discovery and the processors read and
        # write it through DynamoDB, which needs them allowed on the key for that service only.
        Sid    = "StateTableThroughDynamoDB"
        Effect = "Allow"
        Principal = {
          AWS = [
            aws_iam_role.service["aurora-logs-discovery"].arn,
            aws_iam_role.service["aurora-logs-processor"].arn,
          ]
        }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = "dynamodb.${var.region}.amazonaws.com" } }
      },
      {
        # The node volumes are encrypted with this key (eks.tf, the launch template): the Auto
        # Scaling service-linked role launches the nodes and must use the key, or every launch
        # fails (AsgInstanceLaunchFailures: Client.InternalError).
        Sid    = "NodeVolumesThroughAutoScaling"
        Effect = "Allow"
        Principal = {
          AWS = "arn:aws:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        }
        Action   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource = "*"
      },
      {
        # EBS attaches the encrypted volume through a grant the Auto Scaling role creates.
        Sid    = "NodeVolumeGrantsThroughAutoScaling"
        Effect = "Allow"
        Principal = {
          AWS = "arn:aws:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        }
        Action    = "kms:CreateGrant"
        Resource  = "*"
        Condition = { Bool = { "kms:GrantIsForAWSResource" = "true" } }
      },
      {
        Sid       = "CloudWatchLogsEncrypt"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}
