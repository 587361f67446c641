# The file state table, exactly as contract::state lays it out (tests/deploy.rs checks it):
# partition key instance_id (S), sort key log_file (S), TTL on expires_at, on-demand billing.
resource "aws_dynamodb_table" "files" {
  name         = var.dynamodb_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "instance_id"
  range_key    = "log_file"

  attribute {
    name = "instance_id"
    type = "S"
  }

  attribute {
    name = "log_file"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }

  deletion_protection_enabled = var.environment == "production"
}
