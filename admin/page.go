package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// web holds the status page: plain HTML, CSS and a small script, no build
// step, nothing fetched from elsewhere at run time.
//
//go:embed web
var web embed.FS

// pageHandler serves web/index.html at / and web/static/ under /static/.
func pageHandler() http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.FileServerFS(sub)
}
