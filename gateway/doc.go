// Package gateway is the hub's domain: users' servers and their lifecycle
// from spawn form to running notebook, the per-cluster poller that follows
// every job with one scheduler query per interval, and the progress events
// users watch while their job waits in the queue.
//
// It declares the domain's types (Server, ServerState, User, Token,
// Session, Event, Plan) and the small interfaces it needs of the outside
// world (ServerStore, UserStore, TokenStore, SessionStore, EventStore,
// Router, Directory, Replicas), and talks to clusters only through the batch
// interfaces. It imports no adapter: the subpackages implement its
// interfaces and import it (store, proxy, ldapauth), web drives it over
// HTTP, and cmd/hpcgate is the only place that wires concrete types.
//
// Who may import whom:
//
//	cmd/hpcgate → everything
//	web         → gateway, gateway/config, batch (never store, ldapauth, proxy)
//	store, ldapauth → gateway, gateway/config
//	proxy       → nothing of hpcgate
//	gateway     → batch, gateway/config
//
// Files: the domain's types and interfaces in server.go, state.go (states,
// their labels and progress, and the one transition table), user.go,
// token.go, event.go, route.go, errors.go; the hub in hub.go (Hub, New,
// Close), plan.go and spawn.go (a spawn), stop.go, recover.go (Start:
// re-adopting jobs after a restart), poll.go (one status query per
// cluster), observe.go (what a scheduler report means, as a pure
// function, and applying it), ready.go (the app answers), progress.go,
// serverinfo.go (what pages see), queue.go, cron.go, rights.go,
// duration.go and appenv.go (one way to write a duration, a user's URL);
// app.go (an app's secret and route), named.go (named servers), group.go
// (hub and directory groups), replicas.go (which replica leads each
// poller and cron job, and following the others), activity.go, addr.go
// (a job's address, checked), reasons.go, metrics.go, and the workshops in
// workshop.go, workshop_hub.go (rosters, attendees, instructors),
// workshop_class.go (starting and stopping a class, the tick) and
// workshop_timeline.go.
package gateway
