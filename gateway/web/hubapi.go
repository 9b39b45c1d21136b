package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// This file is the hub API an unmodified jupyterhub-singleuser 3.0 calls
// (see research/anchors-jupyterhub.md §3.2): the version probe, the token
// lookup and the activity report. The OAuth pair is in oauth.go.

// apiRoot is GET /hub/api: the JupyterHub API version spoken (the
// single-user server compares major.minor with its own) and hpcgate's.
func (s *Server) apiRoot(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"version": JupyterHubVersion, "hpcgate": s.version})
}

// apiSelf is GET /hub/api/user: who the token belongs to, with the scopes
// jupyterhub-singleuser intersects with its access scopes. An unknown or
// expired token is exactly 403, which the single-user server reads as
// "not logged in" and answers with an OAuth redirect; any other 4xx would
// become a 500 page there. As in JupyterHub 3.0 (SelfAPIHandler), any
// credential may identify its owner, and the model holds only the fields
// its scopes may read: a server's or OAuth token learns the name, the
// admin flag and the groups.
func (s *Server) apiSelf(c *gin.Context) {
	id := who(c)
	if id == nil {
		jsonError(c, http.StatusForbidden, "Missing or invalid credentials")
		return
	}
	if id.Service != "" {
		s.apiSelfService(c, id)
		return
	}
	u, infos, err := s.userServers(c.Request.Context(), id.Name)
	if err != nil {
		s.fail(c, err)
		return
	}
	// Every credential may read its owner's identity here; the scopes
	// reported are the credential's own, without the ones added for this.
	scopes := id.Scopes.strings()
	if scopes == nil {
		scopes = []string{}
	}
	m := s.userModel(withIdentifyScopes(id), u, infos, includeStopped(c))
	m.self = &selfKeys{Scopes: scopes, SessionID: strPtr(id.SessionID)}
	c.JSON(http.StatusOK, m)
}

// withIdentifyScopes is id with the identify scopes of its owner added
// (scopes.py identify_scopes), for the two calls that let any credential
// read who it belongs to.
func withIdentifyScopes(id *identity) *identity {
	cp := *id
	cp.Scopes = scopeSet{}
	for base, f := range id.Scopes {
		cp.Scopes[base] = f.clone()
	}
	for _, sc := range identifyScopes(id.Name) {
		base, filter, _ := strings.Cut(sc, "!")
		cp.Scopes.add(base, filter)
	}
	return &cp
}

// activityBody is what jupyterhub-singleuser POSTs every five minutes.
type activityBody struct {
	LastActivity *string `json:"last_activity"`
	Servers      map[string]struct {
		LastActivity *string `json:"last_activity"`
	} `json:"servers"`
}

// maxFutureActivity is JupyterHub's bound on a clock running ahead.
const maxFutureActivity = 59 * time.Minute

// apiActivity is POST /hub/api/users/<name>/activity.
func (s *Server) apiActivity(c *gin.Context) {
	user := c.Param("user")
	var body activityBody
	if err := decodeJSON(c.Request.Body, &body); err != nil {
		jsonError(c, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return
	}
	ctx := c.Request.Context()
	type record struct {
		server string
		t      time.Time
	}
	var records []record
	for name, srv := range body.Servers {
		if srv.LastActivity == nil {
			jsonError(c, http.StatusBadRequest, fmt.Sprintf("servers.%s.last_activity is required", name))
			return
		}
		t, err := s.parseActivity(*srv.LastActivity)
		if err != nil {
			jsonError(c, http.StatusBadRequest, fmt.Sprintf("servers.%s.last_activity: %v", name, err))
			return
		}
		if _, err := s.hub.Server(ctx, user, name); err != nil {
			if gateway.ErrorCode(err) == gateway.ENOTFOUND {
				jsonError(c, http.StatusBadRequest, fmt.Sprintf("No such server '%s' for user %s", name, user))
				return
			}
			s.fail(c, err)
			return
		}
		records = append(records, record{name, t})
	}
	if len(body.Servers) == 0 && body.LastActivity != nil {
		t, err := s.parseActivity(*body.LastActivity)
		if err != nil {
			jsonError(c, http.StatusBadRequest, "last_activity: "+err.Error())
			return
		}
		// Only a user-level time: it belongs to the default server, if
		// there is one.
		if _, err := s.hub.Server(ctx, user, ""); err == nil {
			records = append(records, record{"", t})
		}
	}
	for _, r := range records {
		if err := s.hub.RecordActivity(ctx, user, r.server, r.t); err != nil {
			s.fail(c, fmt.Errorf("record activity of %s/%s: %w", user, r.server, err))
			return
		}
	}
	c.Status(http.StatusOK)
}

// parseActivity reads an ISO 8601 time as Python writes it (with "Z", an
// offset, or naive meaning UTC) and refuses one too far in the future.
func (s *Server) parseActivity(v string) (time.Time, error) {
	t, err := parseISOTime(v)
	if err != nil {
		return time.Time{}, err
	}
	if t.Sub(s.now()) > maxFutureActivity {
		return time.Time{}, fmt.Errorf("%s is more than 59 minutes in the future", v)
	}
	return t, nil
}

func parseISOTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time", v)
}

// maxBody bounds the JSON bodies the API reads.
const maxBody = 64 << 10

// decodeJSON decodes one JSON value; an empty body decodes to the zero
// value, as JupyterHub treats it.
func decodeJSON(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return err
	}
	if len(data) > maxBody {
		return errors.New("body too large")
	}
	if strings.TrimSpace(string(data)) == "" {
		return nil
	}
	return json.Unmarshal(data, v)
}
