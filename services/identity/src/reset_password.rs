//! ResetLoginPassword: a person lost the admin's console password (it expired before it
//! was fetched, or it was shown where nobody kept it) and asks for a new one. The new
//! password follows the account password policy, must be changed at the next sign-in, and
//! leaves the service only in the one response; the event records the decision, not the
//! password.

use groundwork_cloud::{AwsError, AwsErrorKind, RootPolicy};
use groundwork_events::catalog::LoginPasswordReset;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::UserName;
use crate::error::Error;
use crate::password;
use crate::password_policy;
use crate::service::Service;

/// A new console password, on its way into one response.
#[derive(Debug)]
pub struct NewPassword {
    pub user: UserName,
    pub password: SecretString,
    pub password_reset_required: bool,
    pub console_sign_in_url: String,
}

/// Sets a new generated password on the user's login profile.
#[tracing::instrument(skip_all, fields(user = %user))]
pub async fn reset(service: &Service, user: UserName) -> Result<NewPassword, Error> {
    let caller = service
        .guard("ResetLoginPassword", RootPolicy::Refuse)
        .await?;
    let iam = &service.iam;
    let user_arn = match iam.get_user().user_name(user.as_str()).send().await {
        Ok(out) => out.user.map(|u| u.arn).unwrap_or_default(),
        Err(e) => {
            let e = AwsError::from_sdk("GetUser", e);
            return Err(if e.kind == AwsErrorKind::NotFound {
                Error::not_found(format!("there is no IAM user {user}"))
            } else {
                e.into()
            });
        }
    };
    if let Err(e) = iam
        .get_login_profile()
        .user_name(user.as_str())
        .send()
        .await
    {
        let e = AwsError::from_sdk("GetLoginProfile", e);
        return Err(if e.kind == AwsErrorKind::NotFound {
            Error::failed_precondition(format!(
                "{user} has no console access (no login profile), so there is no password to \
                 reset; give it console access with EnsureAdmin (`console_access`)"
            ))
        } else {
            e.into()
        });
    }
    let policy = password_policy::effective(service).await?;
    let new = password::generate(&policy)?;
    iam.update_login_profile()
        .user_name(user.as_str())
        .password(new.expose_secret())
        .password_reset_required(true)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateLoginProfile", e))?;
    tracing::info!("console password reset");
    service
        .events
        .emit(
            &LoginPasswordReset {
                user_name: user.as_str().to_owned(),
                user_arn: user_arn.clone(),
                password_reset_required: true,
            },
            vec![user_arn],
        )
        .await;
    Ok(NewPassword {
        user,
        password: new,
        password_reset_required: true,
        console_sign_in_url: format!("https://{}.signin.aws.amazon.com/console", caller.account),
    })
}
