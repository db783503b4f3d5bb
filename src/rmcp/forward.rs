//! The `ServerHandler` methods [`super::Guarded`] passes on to the inner
//! handler: everything but `tools/call`, `tools/list`, `get_tool`,
//! `resources/read`, `prompts/get`, `tasks/get` and `tasks/update`.
//!
//! One macro writes them from a list of signatures, so a method rmcp adds is one
//! line here, and none is a hand-written copy that could drift. Every answer an
//! async method returns — a list, a completion, a skill, a custom result, the
//! handshake — passes [`super::Guarded::cleaned`] on its way to the client, and
//! every error the redactor: what the client or its model reads of the inner
//! handler is sanitized and redacted by construction, not case by case.

/// Expands, inside `impl ServerHandler for Guarded<H>`, to every forwarded
/// method. Async methods keep rmcp's return shape
/// (`impl Future + MaybeSendFuture + '_`); the `sync` ones return their value.
macro_rules! forwarded {
    () => {
        $crate::rmcp::forward::forwarded! {
            async fn ping() -> ();
            async fn initialize(request: InitializeRequestParams) -> InitializeResult;
            async fn discover() -> DiscoverResult;
            async fn complete(request: CompleteRequestParams) -> CompleteResult;
            #[expect(deprecated, reason = "forwarded for peers on older protocol versions")]
            async fn set_level(request: rmcp::model::SetLevelRequestParams) -> ();
            async fn list_prompts(request: Option<PaginatedRequestParams>) -> ListPromptsResult;
            async fn list_resources(request: Option<PaginatedRequestParams>) -> ListResourcesResult;
            async fn list_resource_templates(
                request: Option<PaginatedRequestParams>
            ) -> ListResourceTemplatesResult;
            #[expect(deprecated, reason = "forwarded for peers on older protocol versions")]
            async fn subscribe(request: SubscribeRequestParams) -> ();
            #[expect(deprecated, reason = "forwarded for peers on older protocol versions")]
            async fn unsubscribe(request: UnsubscribeRequestParams) -> ();
            async fn on_custom_request(request: CustomRequest) -> CustomResult;
            async fn cancel_task(request: CancelTaskParams) -> ();
            async fn list_skills(request: Option<PaginatedRequestParams>) -> ListSkillsResult;
            async fn get_skill(request: GetSkillRequestParams) -> GetSkillResult;
            async fn read_resource_directory(
                request: ReadResourceDirectoryRequestParams
            ) -> ReadResourceDirectoryResult;
            notify fn on_cancelled(notification: CancelledNotificationParam);
            notify fn on_progress(notification: ProgressNotificationParam);
            notify fn on_initialized();
            notify fn on_roots_list_changed();
            notify fn on_custom_notification(notification: CustomNotification);
            subscription fn listen();
            sync fn negotiate_initialize(request: &InitializeRequestParams)
                -> Result<InitializeResult, McpError>;
            sync fn supported_protocol_versions() -> Cow<'static, [ProtocolVersion]>;
            sync fn accepted_subscription_filter(requested: &SubscriptionFilter)
                -> Option<SubscriptionFilter>;
            sync fn get_info() -> ServerConfig;
        }
    };
    ($($(#[$attr:meta])* $kind:ident fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;)*) => {
        $($crate::rmcp::forward::forwarded!(@one $(#[$attr])* $kind $name ($($arg: $ty),*) $(-> $ret)?);)*
    };
    (@one $(#[$attr:meta])* async $name:ident ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        $(#[$attr])*
        fn $name(
            &self,
            $($arg: $ty,)*
            context: RequestContext<RoleServer>,
        ) -> impl Future<Output = Result<$ret, McpError>> + MaybeSendFuture + '_ {
            async move {
                match self.inner.$name($($arg,)* context).await {
                    Ok(answer) => self.cleaned(answer),
                    Err(error) => Err($crate::rmcp::output::redacted_error(self.gate.redactor(), error)),
                }
            }
        }
    };
    (@one $(#[$attr:meta])* notify $name:ident ($($arg:ident: $ty:ty),*)) => {
        $(#[$attr])*
        fn $name(
            &self,
            $($arg: $ty,)*
            context: NotificationContext<RoleServer>,
        ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
            self.inner.$name($($arg,)* context)
        }
    };
    (@one $(#[$attr:meta])* subscription $name:ident ()) => {
        $(#[$attr])*
        fn $name(
            &self,
            context: SubscriptionContext,
        ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
            self.inner.$name(context)
        }
    };
    (@one $(#[$attr:meta])* sync $name:ident ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        $(#[$attr])*
        fn $name(&self, $($arg: $ty),*) -> $ret {
            self.inner.$name($($arg),*)
        }
    };
}

pub(crate) use forwarded;
