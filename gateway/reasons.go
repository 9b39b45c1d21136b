package gateway

import "hpcgate/batch"

// ExplainReason is the plain words the cluster's scheduler has for one of
// its pending reasons, "" when it has none (or cannot explain reasons, or
// the cluster is not configured). Each adapter owns its scheduler's words
// (batch.ReasonExplainer); the hub only knows which cluster asks.
func (h *Hub) ExplainReason(cluster, raw string) string {
	c, ok := h.clusters[cluster]
	if !ok || raw == "" {
		return ""
	}
	if e, ok := c.Scheduler.(batch.ReasonExplainer); ok {
		return e.ExplainReason(raw)
	}
	return ""
}
