//! The WIT imports: thin, each building an [`AwsCall`] for the store's
//! backend, whose layers guard, meter and (in tests) record it.

use tracing::{Level, event};

use crate::aws::AwsCall;
use crate::bindings::attach_iot_policy::core::{aws, log};
use crate::bindings::{Attribute, AwsError};
use crate::runner::State;

impl aws::Host for State {
    async fn attach_policy(&mut self, policy_name: String, target: String) -> Result<(), AwsError> {
        self.aws.done(&self.call, AwsCall::AttachPolicy { policy_name, target }).await
    }

    async fn list_users(&mut self, user_pool_id: String, filter: String) -> Result<Vec<String>, AwsError> {
        self.aws.list_users(&self.call, &user_pool_id, &filter).await
    }

    async fn update_attributes(
        &mut self,
        user_pool_id: String,
        username: String,
        attributes: Vec<Attribute>,
    ) -> Result<(), AwsError> {
        self.aws.done(&self.call, AwsCall::UpdateAttributes { user_pool_id, username, attributes }).await
    }

    async fn detach_policy(&mut self, policy_name: String, target: String) -> Result<(), AwsError> {
        self.aws.done(&self.call, AwsCall::DetachPolicy { policy_name, target }).await
    }

    async fn delete_attributes(
        &mut self,
        user_pool_id: String,
        username: String,
        names: Vec<String>,
    ) -> Result<(), AwsError> {
        self.aws.done(&self.call, AwsCall::DeleteAttributes { user_pool_id, username, names }).await
    }
}

impl log::Host for State {
    async fn write(&mut self, level: log::Level, message: String) {
        match level {
            log::Level::Debug => event!(Level::DEBUG, source = "guest", "{message}"),
            log::Level::Info => event!(Level::INFO, source = "guest", "{message}"),
            log::Level::Warn => event!(Level::WARN, source = "guest", "{message}"),
            log::Level::Error => event!(Level::ERROR, source = "guest", "{message}"),
        }
    }
}
