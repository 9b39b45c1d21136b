package web

import (
	"strings"
	"time"

	"hpcgate/gateway"
)

// walltimeEndReason is how the lifecycle's reason begins when the scheduler
// ended a job at the end of its walltime (gateway/decide.go). Such a server
// stopped as planned: pages show it as ended by walltime, not as failed.
const walltimeEndReason = "The job reached the end of its walltime"

// endedByWalltime reports whether a server stopped because its job
// reached the end of its walltime.
func endedByWalltime(state gateway.ServerState, reason string) bool {
	return state == gateway.StateStopped && strings.HasPrefix(reason, walltimeEndReason)
}

// walltimeWarnSeconds is when the home page starts warning, the same
// lead time as the lifecycle's warning event.
var walltimeWarnSeconds = int64(gateway.WalltimeWarning / time.Second)

// EndedByWalltime tells the home card to say the server ended at the end
// of its walltime.
func (v *serverView) EndedByWalltime() bool { return endedByWalltime(v.State, v.Reason) }

// WalltimeWarning reports whether the home page shows the banner that the
// scheduler will soon end this running server.
func (v *serverView) WalltimeWarning() bool {
	return v.Ready && v.HasWalltimeLeft && v.WalltimeLeftSeconds < walltimeWarnSeconds
}

// WalltimeWarnAt is the banner's threshold in seconds, for hpcgate.js,
// which shows the banner when the countdown passes it.
func (v *serverView) WalltimeWarnAt() int64 { return walltimeWarnSeconds }

// WalltimeMinutes is the walltime left in whole minutes, rounded up, so
// the banner never says "0 min" while the server still runs.
func (v *serverView) WalltimeMinutes() int64 {
	return (v.WalltimeLeftSeconds + 59) / 60
}
