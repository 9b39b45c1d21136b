package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// Every list the API returns (users, groups, the proxy's routes) is cut
// into pages the way JupyterHub 3.0 cuts them (apihandlers/base.py
// get_api_pagination and paginated_model): ?offset and ?limit, a bare list
// by default, and {"items", "_pagination"} when the client asks for it
// with the Accept type below.

// paginationType is the Accept type that opts into the paginated shape.
const paginationType = "application/jupyterhub-pagination+json"

// Page sizes, JupyterHub's defaults (api_page_default_limit,
// api_page_max_limit). A client that did not ask for pages gets the
// larger one, as JupyterHub does, so old clients miss fewer users.
const (
	defaultPageLimit = 50
	maxPageLimit     = 200
)

// page is one request's offset and limit.
type listPage struct {
	offset, limit int
	paginated     bool // the client asked for {"items", "_pagination"}
}

// pageOf reads the request's page; it answers 400 and returns false when
// offset or limit are not integers. Negative values count as their
// absolute value and a limit is kept within 1…200, as JupyterHub does.
func pageOf(c *gin.Context) (listPage, bool) {
	p := listPage{paginated: strings.Contains(c.GetHeader("Accept"), paginationType)}
	def := maxPageLimit
	if p.paginated {
		def = defaultPageLimit
	}
	var err1, err2 error
	p.offset, err1 = queryInt(c, "offset", 0)
	p.limit, err2 = queryInt(c, "limit", def)
	if err1 != nil || err2 != nil {
		jsonError(c, http.StatusBadRequest, "Invalid argument type, offset and limit must be integers")
		return p, false
	}
	p.offset, p.limit = abs(p.offset), abs(p.limit)
	p.limit = max(1, min(p.limit, maxPageLimit))
	return p, true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func queryInt(c *gin.Context, key string, def int) (int, error) {
	v := c.Query(key)
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}

// bounds is the slice of a list of total items this page shows.
func (p listPage) bounds(total int) (int, int) {
	return min(p.offset, total), min(p.offset+p.limit, total)
}

// write answers with items (one page, a list or a map) out of total.
func (p listPage) write(c *gin.Context, items any, total int) {
	a, fast := items.(jsonAppender)
	if !p.paginated {
		if fast {
			writeJSON(c, http.StatusOK, jsonContentType, "", a, nil)
			return
		}
		c.JSON(http.StatusOK, items)
		return
	}
	var next any
	if p.offset+p.limit < total {
		q := c.Request.URL.Query()
		q.Set("offset", strconv.Itoa(p.offset+p.limit))
		q.Set("limit", strconv.Itoa(p.limit))
		u := *c.Request.URL
		u.RawQuery = q.Encode()
		next = gin.H{"offset": p.offset + p.limit, "limit": p.limit, "url": u.RequestURI()}
	}
	pagination := gin.H{"offset": p.offset, "limit": p.limit, "total": total, "next": next}
	if fast {
		// The same bytes as the map below: "_pagination" sorts first.
		head, err := json.Marshal(pagination)
		if err != nil {
			jsonError(c, http.StatusInternalServerError, "encode page: "+err.Error())
			return
		}
		writeJSON(c, http.StatusOK, paginationType, `{"_pagination":`+string(head)+`,"items":`, a, []byte{'}'})
		return
	}
	body, err := json.Marshal(gin.H{
		"items":       items,
		"_pagination": pagination,
	})
	if err != nil {
		jsonError(c, http.StatusInternalServerError, "encode page: "+err.Error())
		return
	}
	c.Data(http.StatusOK, paginationType, body)
}

// jsonContentType is gin's for c.JSON.
const jsonContentType = "application/json; charset=utf-8"
