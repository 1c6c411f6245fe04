"""Cognito: the user pool, an app client for the load balancer's sign-in (Flower), one for the
page's sign-in, and the hosted UI domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AuthArgs:
    domain_prefix: str  # https://<prefix>.auth.<region>.amazoncognito.com
    callback_domains: Sequence[str]  # hosts whose ALB rules authenticate (Flower)
    mfa: str = "OPTIONAL"
    web_origins: Sequence[pulumi.Input[str]] = ()  # where the page at / is served (web/signin.js)


class Auth(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: AuthArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:auth:Auth", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.user_pool = aws.cognito.UserPool(
            name,
            username_attributes=["email"],
            auto_verified_attributes=["email"],
            mfa_configuration=args.mfa,
            software_token_mfa_configuration={"enabled": True} if args.mfa != "OFF" else None,
            password_policy={
                "minimum_length": 12,
                "require_lowercase": True,
                "require_uppercase": True,
                "require_numbers": True,
                "require_symbols": False,
            },
            admin_create_user_config={"allow_admin_create_user_only": True},  # operators only
            deletion_protection="ACTIVE",
            opts=child,
        )
        self.client = aws.cognito.UserPoolClient(
            name,
            user_pool_id=self.user_pool.id,
            generate_secret=True,  # the load balancer authenticates as a confidential client
            allowed_oauth_flows_user_pool_client=True,
            allowed_oauth_flows=["code"],
            allowed_oauth_scopes=["openid", "email"],
            supported_identity_providers=["COGNITO"],
            callback_urls=[f"https://{d}/oauth2/idpresponse" for d in args.callback_domains],
            prevent_user_existence_errors="ENABLED",
            opts=child,
        )
        # The page is a public client: no secret it could not keep; code flow with PKCE.
        page_urls = [pulumi.Output.concat(origin, "/") for origin in args.web_origins]
        self.web_client = aws.cognito.UserPoolClient(
            f"{name}-web",
            user_pool_id=self.user_pool.id,
            generate_secret=False,
            allowed_oauth_flows_user_pool_client=True,
            allowed_oauth_flows=["code"],
            allowed_oauth_scopes=["openid", "email"],
            supported_identity_providers=["COGNITO"],
            callback_urls=page_urls,
            logout_urls=page_urls,
            prevent_user_existence_errors="ENABLED",
            opts=child,
        )
        self.domain = aws.cognito.UserPoolDomain(
            name, domain=args.domain_prefix, user_pool_id=self.user_pool.id, opts=child
        )
        self.register_outputs(
            {
                "user_pool": self.user_pool.id,
                "client": self.client.id,
                "web_client": self.web_client.id,
                "domain": self.domain.domain,
            }
        )
