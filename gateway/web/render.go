package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// layoutFiles are parsed with every page: the frame and shared partials.
var layoutFiles = []string{"web/layout.html", "web/partials.html"}

// parsePages parses each page template of web/ together with the layout,
// so every page defines its own "content" block.
func parsePages(fsys fs.FS) (map[string]*template.Template, error) {
	names, err := fs.Glob(fsys, "web/*.html")
	if err != nil {
		return nil, fmt.Errorf("list page templates: %w", err)
	}
	base, err := template.New("").Funcs(funcs).ParseFS(fsys, layoutFiles...)
	if err != nil {
		return nil, fmt.Errorf("parse page layout: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		if isLayout(n) {
			continue
		}
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("clone layout for %s: %w", n, err)
		}
		if _, err := t.ParseFS(fsys, n); err != nil {
			return nil, fmt.Errorf("parse page %s: %w", n, err)
		}
		pages[path.Base(n)] = t
	}
	return pages, nil
}

func isLayout(n string) bool {
	for _, l := range layoutFiles {
		if l == n {
			return true
		}
	}
	return false
}

var funcs = template.FuncMap{}

// viewer is the logged-in user as the page frame shows them.
type viewer struct {
	Name  string
	Admin bool
}

// page is what every template gets: the frame's fields and the page's own
// Data.
type page struct {
	Title    string
	SiteName string
	Base     string // base_url, ending in "/"
	Hub      string // base_url + "hub/"
	Version  string
	Viewer   *viewer
	XSRF     string
	Nav      string
	Scripts  []string
	Data     any
}

// render writes the page template name with data in the site's frame.
// The page is rendered into a buffer first, so a template error becomes a
// clean 500, not half a page.
func (s *Server) render(c *gin.Context, status int, name, title string, data any, scripts ...string) {
	t, ok := s.pages[name]
	if !ok {
		s.log.Error("no page template", "template", name)
		c.String(http.StatusInternalServerError, "internal error")
		return
	}
	p := page{
		Title:    title,
		SiteName: s.siteName,
		Base:     s.base,
		Hub:      s.hubPrefix,
		Version:  s.version,
		XSRF:     s.xsrf(c),
		Nav:      strings.TrimSuffix(name, ".html"),
		Scripts:  append([]string{"hpcgate.js"}, scripts...),
		Data:     data,
	}
	if id := who(c); id != nil && id.ViaCookie {
		p.Viewer = &viewer{Name: id.Name, Admin: id.Admin}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("render page", "template", name, "err", err)
		c.String(http.StatusInternalServerError, "internal error")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}
