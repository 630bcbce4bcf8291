//! The WIT imports: thin, each delegating to the store's backend. Time spent
//! here is waiting on AWS, which the guest's CPU budget does not count.

use std::time::Instant;

use tracing::{Level, event};

use crate::bindings::attach_iot_policy::core::{aws, log};
use crate::bindings::{Attribute, AwsError};
use crate::runner::State;

impl State {
    fn waited<T>(&mut self, op: &'static str, started: Instant, result: &Result<T, AwsError>) {
        let elapsed = started.elapsed();
        self.waiting += elapsed;
        self.aws_calls += 1;
        let outcome = result.as_ref().map_or_else(AwsError::kind, |_| "ok");
        event!(Level::DEBUG, op, outcome, elapsed_us = elapsed.as_micros() as u64, "import call");
    }
}

impl aws::Host for State {
    async fn attach_policy(&mut self, policy_name: String, target: String) -> Result<(), AwsError> {
        let started = Instant::now();
        let result = self.aws.attach_policy(&self.call, &policy_name, &target).await;
        self.waited("attach-policy", started, &result);
        result
    }

    async fn list_users(&mut self, user_pool_id: String, filter: String) -> Result<Vec<String>, AwsError> {
        let started = Instant::now();
        let result = self.aws.list_users(&self.call, &user_pool_id, &filter).await;
        self.waited("list-users", started, &result);
        result
    }

    async fn update_attributes(
        &mut self,
        user_pool_id: String,
        username: String,
        attributes: Vec<Attribute>,
    ) -> Result<(), AwsError> {
        let started = Instant::now();
        let result = self.aws.update_attributes(&self.call, &user_pool_id, &username, &attributes).await;
        self.waited("update-attributes", started, &result);
        result
    }

    async fn detach_policy(&mut self, policy_name: String, target: String) -> Result<(), AwsError> {
        let started = Instant::now();
        let result = self.aws.detach_policy(&self.call, &policy_name, &target).await;
        self.waited("detach-policy", started, &result);
        result
    }

    async fn delete_attributes(
        &mut self,
        user_pool_id: String,
        username: String,
        names: Vec<String>,
    ) -> Result<(), AwsError> {
        let started = Instant::now();
        let result = self.aws.delete_attributes(&self.call, &user_pool_id, &username, &names).await;
        self.waited("delete-attributes", started, &result);
        result
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
