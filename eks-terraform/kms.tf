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
