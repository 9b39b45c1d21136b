package web

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/gin-gonic/gin"

	"hpcgate/gateway"
)

// "Stop all" (JupyterHub's admin page has it): a page that lists what
// will be stopped and asks, then one POST that stops every active server.
// The confirmation is a page, not a script's dialog, so it holds without
// JavaScript and a stray POST without confirm=yes stops nothing.

type stopAllData struct {
	Servers []*gateway.ServerInfo
}

func (s *Server) activeServers(c *gin.Context) ([]*gateway.ServerInfo, error) {
	infos, err := s.hub.Servers(c.Request.Context())
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	var out []*gateway.ServerInfo
	for _, info := range infos {
		if info.Active() && info.State != gateway.StateStopping {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// stopAllPage is GET /hub/admin/stop-all: the confirmation.
func (s *Server) stopAllPage(c *gin.Context) {
	servers, err := s.activeServers(c)
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.render(c, http.StatusOK, "stop_all.html", "Stop all servers", stopAllData{Servers: servers})
}

// stopAll is POST /hub/admin/stop-all with confirm=yes.
func (s *Server) stopAll(c *gin.Context) {
	if c.PostForm("confirm") != "yes" {
		c.Redirect(http.StatusSeeOther, s.hubPrefix+"admin/stop-all")
		return
	}
	servers, err := s.activeServers(c)
	if err != nil {
		s.backToAdmin(c, s.actionError(c, "admin stop all", err))
		return
	}
	ctx, admin := c.Request.Context(), who(c).Name
	stopped, failed := 0, 0
	for _, info := range servers {
		if err := s.hub.Stop(ctx, info.User, info.Name, admin); err != nil && gateway.ErrorCode(err) != gateway.ECONFLICT {
			failed++
			s.log.ErrorContext(ctx, "admin stop all: stop failed", "user", admin, "owner", info.User, "server", info.Name, "job", info.JobID, "err", err)
			continue
		}
		stopped++
	}
	s.log.InfoContext(ctx, "admin stop all", "user", admin, "stopped", stopped, "failed", failed)
	f := flash{Message: fmt.Sprintf("Stopping %d servers.", stopped)}
	if failed > 0 {
		f = flash{Error: true, Message: fmt.Sprintf("Stopping %d servers; %d could not be stopped (see the hub's log).", stopped, failed)}
	}
	s.backToAdmin(c, f)
}
