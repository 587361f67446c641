# OpenObserve's object store: encrypted with the project's key, never public, old objects and
# unfinished uploads expire.

resource "aws_s3_bucket" "openobserve" {
  # checkov:skip=CKV_AWS_144: no cross-region replication: OpenObserve's data is a copy of logs that stay in RDS for their retention; a second region doubles the cost for a derived store.
  # checkov:skip=CKV2_AWS_62: no event notifications: nothing consumes bucket events; OpenObserve reads the bucket itself.
  # checkov:skip=CKV_AWS_18: no server access logging here: that needs a separate log bucket per account, usually provided by the organisation's landing zone; CloudTrail data events cover object access if required.
  bucket        = var.openobserve_bucket
  force_destroy = var.environment != "production"
}

resource "aws_s3_bucket_public_access_block" "openobserve" {
  bucket                  = aws_s3_bucket.openobserve.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "openobserve" {
  bucket = aws_s3_bucket.openobserve.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "openobserve" {
  bucket = aws_s3_bucket.openobserve.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "openobserve" {
  bucket = aws_s3_bucket.openobserve.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "openobserve" {
  bucket = aws_s3_bucket.openobserve.id

  rule {
    id     = "expire-old-data"
    status = "Enabled"
    filter {}

    expiration {
      days = var.openobserve_retention_days
    }

    # Versioning keeps deleted objects as noncurrent versions: drop them after a week.
    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# TLS only.
resource "aws_s3_bucket_policy" "openobserve" {
  bucket = aws_s3_bucket.openobserve.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.openobserve.arn, "${aws_s3_bucket.openobserve.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.openobserve]
}
