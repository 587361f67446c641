"""The reference IAM tokens of net/tests/iam_tokens.rs, made by AWS's own code at a fixed time.

usage: aws_signers.py msk|elasticache REGION EPOCH_SECONDS ACCESS_KEY SECRET_KEY TOKEN|- [CACHE USER SERVERLESS]

- msk: aws-msk-iam-sasl-signer-python's token (its generate_auth_token_from_credentials_provider);
- elasticache: the presigned connect URL as AWS's ElastiCache IAM documentation makes it with
  botocore's RequestSigner, without its scheme.
"""
import datetime
import sys

import botocore.auth
import botocore.session
from botocore.credentials import CredentialProvider, Credentials
from botocore.model import ServiceId
from botocore.signers import RequestSigner


def main():
    mode, region, epoch, access_key, secret_key, token = sys.argv[1:7]
    fixed = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
    botocore.auth.get_current_datetime = lambda remove_tzinfo=True: (
        fixed.replace(tzinfo=None) if remove_tzinfo else fixed
    )
    credentials = Credentials(access_key, secret_key, None if token == "-" else token)
    if mode == "msk":
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        class Fixed(CredentialProvider):
            def load(self):
                return credentials

        value, expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_credentials_provider(
            region, Fixed()
        )
        print(value)
        print(expiry_ms)
    elif mode == "elasticache":
        cache, user, serverless = sys.argv[7:10]
        query = f"Action=connect&User={user}"
        if serverless == "true":
            query += "&ResourceType=ServerlessCache"
        session = botocore.session.get_session()
        signer = RequestSigner(
            ServiceId("elasticache"),
            region,
            "elasticache",
            "v4",
            credentials,
            session.get_component("event_emitter"),
        )
        url = signer.generate_presigned_url(
            {"method": "GET", "url": f"https://{cache}/?{query}", "body": {}, "headers": {}, "context": {}},
            operation_name="connect",
            expires_in=900,
            region_name=region,
        )
        print(url.removeprefix("https://"))
    else:
        sys.exit(f"unknown mode {mode}")


main()
