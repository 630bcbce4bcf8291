//! The function: what init builds once (component, configuration, AWS
//! backend) and every invocation shares.

use std::sync::Arc;

use crate::aws::Aws;
use crate::aws::guarded::Guarded;
use crate::aws::metered::Metered;
use crate::config::Config;
use crate::custom_resource::{self, CustomResource};
use crate::runner::{Invocation, Outcome, Runner};
use crate::settings::Settings;

/// One function, shared by every invocation of the process.
#[derive(Clone)]
pub struct Function {
    /// The component, linked once.
    pub runner: Arc<Runner>,
    /// The component's configuration, checked at start.
    pub config: Arc<Config>,
    /// The backend with its layers, outermost first: the guard (a component
    /// gets only what the configuration names, whatever it asks for), then
    /// the meter, then `backend` as the caller gave it.
    aws: Arc<dyn Aws>,
    custom_resource: Arc<CustomResource>,
}

impl Function {
    /// Stacks the layers on `backend`, once. The custom resource gets the
    /// default drain settings.
    pub fn new(runner: Arc<Runner>, config: Arc<Config>, backend: Arc<dyn Aws>) -> Self {
        let aws = Arc::new(Guarded::new(config.clone(), Arc::new(Metered::new(backend))));
        Self { runner, config, aws, custom_resource: Arc::default() }
    }

    /// The function as `settings` configure it; an error names
    /// `IOT_POLICY_NAME` when it is unset.
    pub fn from_settings(
        runner: Arc<Runner>,
        settings: &Settings,
        backend: Arc<dyn Aws>,
    ) -> Result<Self, crate::config::ConfigError> {
        let function = Self::new(runner, Arc::new(settings.config()?.clone()), backend);
        let custom_resource = CustomResource::new(settings.drain.clone(), settings.ca_roots.clone());
        Ok(Self { custom_resource: Arc::new(custom_resource), ..function })
    }

    /// The component answers the event, unless it is the stack's custom
    /// resource request, which the host serves itself.
    pub async fn invoke(&self, event: &[u8], invocation: &Invocation) -> Outcome {
        if let Some(request) = custom_resource::parse(event) {
            let cognito_identity = invocation.cognito_identity.as_deref();
            let (aws, config, deadline) = (self.aws.clone(), &self.config, invocation.deadline);
            let response =
                custom_resource::serve(&self.custom_resource, request, aws, config, cognito_identity, deadline).await;
            return Outcome::host(response);
        }
        self.runner.invoke(event, invocation, &self.config, self.aws.clone()).await
    }
}
