package web

import (
	"encoding/json"
	"fmt"
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

// apiStartServer is POST /hub/api/users/<name>/server and
// …/servers/<server>: 202 while the job is on its way (or already was),
// 201 if it is ready at once, 400 with each wrong option named when the
// profile refuses the options, 400 if already running or stopping, and
// for a named server 400 when named servers are off or the user has the
// most allowed (JupyterHub 3.0's UserServerAPIHandler.post).
func (s *Server) apiStartServer(c *gin.Context) {
	id, user, server := who(c), c.Param("user"), c.Param("name")
	if !s.namedServerOK(c, server) {
		return
	}
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
	if info, err := s.hub.Server(ctx, user, server); err == nil && info.Active() {
		switch info.Pending() {
		case "spawn":
			c.Status(http.StatusAccepted) // JupyterHub: a start already under way
		case "":
			jsonError(c, http.StatusBadRequest, logName(user, server)+" is already running")
		default:
			jsonError(c, http.StatusBadRequest, logName(user, server)+" is pending "+info.Pending())
		}
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
		User: user, Server: server, Cluster: plan.Cluster.Name, Profile: plan.Profile.Name, Options: opts, Groups: owner.AllGroups(), By: id.Name,
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.log.InfoContext(ctx, "spawn requested", "user", id.Name, "owner", user, "server", server, "site", info.Cluster, "profile", info.Profile)
	if info.State == gateway.StateReady {
		c.Status(http.StatusCreated)
		return
	}
	c.Status(http.StatusAccepted)
}

// apiStopServer is DELETE /hub/api/users/<name>/server and
// …/servers/<server>: 204 when nothing is running (any more), 202 while
// the job is being cancelled, 404 for an unknown user or named server.
// {"remove": true} deletes a named server too, once its job has ended
// (400 for the default server). Unlike JupyterHub, which answers 400
// while a spawn is pending, a job still waiting in the queue may be
// cancelled: on a batch cluster that wait can last hours.
func (s *Server) apiStopServer(c *gin.Context) {
	id, user, server := who(c), c.Param("user"), c.Param("name")
	ctx := c.Request.Context()
	var body struct {
		Remove bool `json:"remove"`
	}
	if err := decodeJSON(c.Request.Body, &body); err != nil {
		jsonError(c, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return
	}
	if _, err := s.store.GetUser(ctx, user); err != nil {
		if isNotFound(err) {
			jsonError(c, http.StatusNotFound, "No such user: "+user)
			return
		}
		s.fail(c, err)
		return
	}
	if !s.namedServerOK(c, server) {
		return
	}
	info, err := s.hub.Server(ctx, user, server)
	switch {
	case gateway.ErrorCode(err) == gateway.ENOTFOUND && server != "":
		jsonError(c, http.StatusNotFound, fmt.Sprintf("%s has no server named '%s'", user, server))
		return
	case body.Remove && server == "":
		jsonError(c, http.StatusBadRequest, "Cannot delete the default server")
		return
	case gateway.ErrorCode(err) == gateway.ENOTFOUND:
		c.Status(http.StatusNoContent)
		return
	case err != nil:
		s.fail(c, err)
		return
	case body.Remove:
		// Stops it if need be; deleted once the job has ended.
		if err := s.hub.RemoveServer(ctx, user, server, id.Name); err != nil && gateway.ErrorCode(err) != gateway.ENOTFOUND {
			s.fail(c, err)
			return
		}
		s.log.InfoContext(ctx, "server removal requested", "user", id.Name, "owner", user, "server", server)
	case info.State == gateway.StateStopping:
		c.Status(http.StatusAccepted)
		return
	case !info.Active():
		c.Status(http.StatusNoContent)
		return
	default:
		if err := s.hub.Stop(ctx, user, server, id.Name); err != nil && gateway.ErrorCode(err) != gateway.ECONFLICT {
			s.fail(c, err)
			return
		}
		s.log.InfoContext(ctx, "stop requested", "user", id.Name, "owner", user, "server", server)
	}
	if info, err := s.hub.Server(ctx, user, server); err != nil || !info.Active() {
		c.Status(http.StatusNoContent)
		return
	}
	c.Status(http.StatusAccepted)
}

// namedServerOK answers 400 in JupyterHub's words unless server is ""
// (the default server) or may name a server here; it reports whether the
// request goes on.
func (s *Server) namedServerOK(c *gin.Context, server string) bool {
	if server == "" {
		return true
	}
	if !s.cfg.NamedServers.Enabled {
		jsonError(c, http.StatusBadRequest, "Named servers are not enabled.")
		return false
	}
	if err := gateway.ValidServerName(server); err != nil {
		jsonError(c, http.StatusBadRequest, "Invalid server_name: "+gateway.ErrorMessage(err))
		return false
	}
	return true
}

// logName is JupyterHub's name of a server in messages (Spawner._log_name):
// the user, or user:server for a named one.
func logName(user, server string) string {
	if server == "" {
		return user
	}
	return user + ":" + server
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
