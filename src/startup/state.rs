//! The service's state, as the gateway serves it: the edge's own part and each capability's
//! [`Context`](crate::events::Context). Built once at start (`app`); a route's handler gets
//! its capability's part only (`routes`, which also makes it the gateway's `Service`), so no capability sees another's state, and none of
//! them sees this struct.

use std::sync::Arc;

use crate::gateway::Edge;

pub struct State {
    pub edge: Edge,
    pub events: Arc<crate::events::Context>,
    pub registration: Arc<crate::registration::Context>,
    pub cache: Arc<crate::cache::Context>,
    pub association: Arc<crate::association::Context>,
    pub reports: Arc<crate::reports::Context>,
    pub ops: Arc<crate::ops::Context>,
}
