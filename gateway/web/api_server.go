package web

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// spawnOptions turns the JSON body of POST /hub/api/users/<name>/server
// ({"cluster", "profile", "partition", "cores", "memory", "gpus",
// "walltime", "account"}; numbers or strings) into a SpawnRequest's
// fields. Option names the site does not know are refused here, so they
// can never slip past the profile (batchspawner passed them through).
func spawnOptions(raw map[string]json.RawMessage) (cluster, profile string, opts map[string]string, fields map[string]string) {
	opts = map[string]string{}
	fields = map[string]string{}
	for k, v := range raw {
		var str string
		var num json.Number
		switch {
		case json.Unmarshal(v, &str) == nil:
		case json.Unmarshal(v, &num) == nil:
			str = num.String()
		default:
			fields[k] = "must be a string or a number"
			continue
		}
		switch {
		case k == "cluster":
			cluster = str
		case k == "profile":
			profile = str
		case isOption(k):
			opts[k] = str
		default:
			fields[k] = "is not an option; the options are cluster, profile, " + optionList
		}
	}
	return cluster, profile, opts, fields
}

// apiStartServer is POST /hub/api/users/<name>/server: 202 while the job
// is on its way, 201 if it is ready at once, 400 with each wrong option
// named when the profile refuses the options, 400 if already running.
func (s *Server) apiStartServer(c *gin.Context) {
	id, user := who(c), c.Param("user")
	var raw map[string]json.RawMessage
	if err := decodeJSON(c.Request.Body, &raw); err != nil {
		jsonError(c, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return
	}
	cluster, profile, opts, bad := spawnOptions(raw)
	if len(bad) > 0 {
		c.AbortWithStatusJSON(http.StatusBadRequest, apiError{Status: http.StatusBadRequest, Message: fieldsMessage(bad), Fields: bad})
		return
	}
	ctx := c.Request.Context()
	if info, err := s.hub.Server(ctx, user, ""); err == nil && info.Active() {
		msg := user + " is already running"
		if p := info.Pending(); p != "" {
			msg = user + " is pending " + p
		}
		jsonError(c, http.StatusBadRequest, msg)
		return
	}
	owner, err := s.store.GetUser(ctx, user)
	if err != nil {
		if isNotFound(err) {
			jsonError(c, http.StatusNotFound, "No such user: "+user)
			return
		}
		s.fail(c, err)
		return
	}
	plan, err := s.planSpawn(cluster, profile, opts, owner.AllGroups())
	if err != nil {
		s.fail(c, err)
		return
	}
	info, err := s.hub.Spawn(ctx, gateway.SpawnRequest{
		User: user, Cluster: plan.Cluster.Name, Profile: plan.Profile.Name, Options: opts, Groups: owner.AllGroups(), By: id.Name,
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.log.InfoContext(ctx, "spawn requested", "user", id.Name, "owner", user, "site", info.Cluster, "profile", info.Profile)
	if info.State == gateway.StateReady {
		c.Status(http.StatusCreated)
		return
	}
	c.Status(http.StatusAccepted)
}

// apiStopServer is DELETE /hub/api/users/<name>/server: 204 when nothing
// is running (any more), 202 while the job is being cancelled, 404 for
// an unknown user. Unlike JupyterHub, which answers 400 while a spawn is
// pending, a job still waiting in the queue may be cancelled: on a batch
// cluster that wait can last hours.
func (s *Server) apiStopServer(c *gin.Context) {
	id, user := who(c), c.Param("user")
	ctx := c.Request.Context()
	if _, err := s.store.GetUser(ctx, user); err != nil {
		if isNotFound(err) {
			jsonError(c, http.StatusNotFound, "No such user: "+user)
			return
		}
		s.fail(c, err)
		return
	}
	info, err := s.hub.Server(ctx, user, "")
	switch {
	case gateway.ErrorCode(err) == gateway.ENOTFOUND:
		c.Status(http.StatusNoContent)
		return
	case err != nil:
		s.fail(c, err)
		return
	case info.State == gateway.StateStopping:
		c.Status(http.StatusAccepted)
		return
	case !info.Active():
		c.Status(http.StatusNoContent)
		return
	}
	if err := s.hub.Stop(ctx, user, "", id.Name); err != nil && gateway.ErrorCode(err) != gateway.ECONFLICT {
		s.fail(c, err)
		return
	}
	s.log.InfoContext(ctx, "stop requested", "user", id.Name, "owner", user)
	if info, err := s.hub.Server(ctx, user, ""); err == nil && !info.Active() {
		c.Status(http.StatusNoContent)
		return
	}
	c.Status(http.StatusAccepted)
}

// fieldsMessage joins per-field messages into one line for "message".
func fieldsMessage(fields map[string]string) string {
	keys := sortedKeys(fields)
	msg := ""
	for i, k := range keys {
		if i > 0 {
			msg += "; "
		}
		msg += k + ": " + fields[k]
	}
	return msg
}
