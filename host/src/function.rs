//! The function: what init builds once (component, configuration, AWS
//! backend) and every invocation shares.

use std::sync::Arc;

use crate::aws::Aws;
use crate::aws::guarded::Guarded;
use crate::config::Config;
use crate::custom_resource;
use crate::runner::{Invocation, Outcome, Runner};

#[derive(Clone)]
pub struct Function {
    pub runner: Arc<Runner>,
    pub config: Arc<Config>,
    /// The backend, behind the guard: a component gets only what the
    /// configuration names, whatever it asks for.
    aws: Arc<dyn Aws>,
}

impl Function {
    pub fn new(runner: Arc<Runner>, config: Arc<Config>, backend: Arc<dyn Aws>) -> Self {
        let aws = Arc::new(Guarded::new(config.clone(), backend));
        Self { runner, config, aws }
    }

    /// The component answers the event, unless it is the stack's custom
    /// resource request, which the host serves itself.
    pub async fn invoke(&self, event: &[u8], invocation: &Invocation) -> Outcome {
        if let Some(request) = custom_resource::parse(event) {
            let cognito_identity = invocation.cognito_identity.as_deref();
            let response =
                custom_resource::serve(request, self.aws.clone(), &self.config, cognito_identity, invocation.deadline)
                    .await;
            return Outcome::host(response);
        }
        self.runner.invoke(event, invocation, &self.config, self.aws.clone()).await
    }
}
