// Command package builds licbridge's Debian package with nfpm: the binary,
// the systemd unit, the example config, /var/lib/licbridge and a system user
// made by the postinstall script. It is a module of its own so that the
// packaging library stays out of the daemon's dependencies.
//
//	go run . -root ../.. -binary bin/licbridge -version 1.2.3 -out dist
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// Where the package puts things. The unit's ExecStart names the binary's path.
const (
	binPath    = "/usr/local/bin/licbridge"
	unitPath   = "/lib/systemd/system/licbridge.service"
	configPath = "/etc/licbridge/licbridge.yaml"
	stateDir   = "/var/lib/licbridge"
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	binary := flag.String("binary", "bin/licbridge", "the built binary (relative paths are under -root)")
	version := flag.String("version", "0.0.0", "package version (a git describe is cleaned into a Debian version)")
	arch := flag.String("arch", "amd64", "Debian architecture")
	out := flag.String("out", "dist", "output directory (relative paths are under -root)")
	flag.Parse()
	path, err := build(*root, *binary, *version, *arch, *out)
	if err != nil {
		slog.Error("package", "err", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

// debVersion turns "v1.2.3-4-gabc-dirty" or "abc123" into a version dpkg
// accepts (it must start with a digit).
func debVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	v = regexp.MustCompile(`[^A-Za-z0-9.+~-]`).ReplaceAllString(v, "")
	if v == "" || v[0] < '0' || v[0] > '9' {
		v = "0.0.0~" + v
	}
	return strings.TrimSuffix(v, "~")
}

// info describes the package; paths are on the build machine.
func info(root, binary, version, arch, scripts string) *nfpm.Info {
	in := func(p string) string { return under(root, p) }
	return &nfpm.Info{
		Name: "licbridge", Arch: arch, Platform: "linux", Version: debVersion(version),
		Section: "comm", Priority: "optional", Maintainer: "licbridge maintainers <licbridge@localhost>",
		Description: "cluster-wide G.729 / HPEC / fax channel licensing for Asterisk",
		Homepage:    "https://github.com/licbridge/licbridge", License: "proprietary",
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				{Source: in(binary), Destination: binPath, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: in("contrib/licbridge.service"), Destination: unitPath, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				// An edited config survives upgrades (a conffile dpkg asks about).
				{Source: in("contrib/licbridge.yaml"), Destination: configPath, Type: files.TypeConfigNoReplace,
					FileInfo: &files.ContentFileInfo{Mode: 0o640}},
				{Destination: "/etc/licbridge", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750}},
				{Destination: stateDir, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750}},
			},
			Scripts: nfpm.Scripts{PostInstall: filepath.Join(scripts, "postinstall.sh")},
		},
	}
}

// postinstall makes the system user and gives it the state dir and the
// config's group; it is idempotent (upgrades run it again).
const postinstall = `#!/bin/sh
set -e
if ! getent passwd licbridge >/dev/null; then
	adduser --system --group --home ` + stateDir + ` --no-create-home --shell /usr/sbin/nologin licbridge 2>/dev/null ||
	useradd --system --user-group --home-dir ` + stateDir + ` --shell /usr/sbin/nologin licbridge
fi
chown licbridge:licbridge ` + stateDir + `
chgrp licbridge /etc/licbridge ` + configPath + `
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
`

// under is p relative to root, or p itself when absolute.
func under(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

func build(root, binary, version, arch, out string) (string, error) {
	if _, err := os.Stat(under(root, binary)); err != nil {
		return "", fmt.Errorf("binary: %w (make build first)", err)
	}
	scripts, err := os.MkdirTemp("", "licbridge-package")
	if err != nil {
		return "", fmt.Errorf("scripts dir: %w", err)
	}
	defer os.RemoveAll(scripts)
	if err := os.WriteFile(filepath.Join(scripts, "postinstall.sh"), []byte(postinstall), 0o755); err != nil {
		return "", fmt.Errorf("postinstall script: %w", err)
	}
	inf := nfpm.WithDefaults(info(root, binary, version, arch, scripts))
	if err := nfpm.Validate(inf); err != nil {
		return "", fmt.Errorf("package info: %w", err)
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", fmt.Errorf("deb packager: %w", err)
	}
	dir := under(root, out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("output dir: %w", err)
	}
	path := filepath.Join(dir, pkg.ConventionalFileName(inf))
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	if err := pkg.Package(inf, f); err != nil {
		f.Close()
		return "", fmt.Errorf("build %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}
