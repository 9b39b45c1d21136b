// Package templates embeds the job scripts (jobs/) and the web pages and
// assets (web/, static/) so the hpcgate binary carries everything it needs.
// A site may override any file by pointing hub.templates_dir at a directory
// with the same layout.
package templates

import (
	"embed"
	"io/fs"
)

// FS holds jobs/*.sh.tmpl, web/*.html and static/*.
//
//go:embed all:jobs all:web all:static
var FS embed.FS

// Overlay returns an FS that serves files from top when it has them and
// from base otherwise, so a site overrides templates one file at a time.
func Overlay(top, base fs.FS) fs.FS { return overlay{top, base} }

type overlay struct{ top, base fs.FS }

func (o overlay) Open(name string) (fs.File, error) {
	if f, err := o.top.Open(name); err == nil {
		return f, nil
	}
	return o.base.Open(name)
}
