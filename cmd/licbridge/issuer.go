package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/issuer"
	"github.com/licbridge/licbridge/license"
	"github.com/urfave/cli/v2"
)

func issuerCommand() *cli.Command {
	return &cli.Command{
		Name:  "issuer",
		Usage: "the issuer service: signing key, entitlements, activation database, online and offline activation",
		Subcommands: []*cli.Command{
			issuerServeCommand(),
			issuerEntitleCommand(),
			issuerModifyCommand(),
			issuerListCommand(),
			issuerActivationsCommand(),
			issuerDeactivateCommand(),
			issuerRevokeCommand(),
			issuerAnswerCommand(),
		},
	}
}

func dbFlag() cli.Flag {
	return &cli.StringFlag{Name: "db", Value: issuer.DefaultDB, Usage: "activation database: a SQLite file path (sqlite:PATH) or postgres://...", EnvVars: []string{"LICBRIDGE_ISSUER_DB"}}
}

func issuerKeyFlag() cli.Flag {
	return &cli.StringFlag{Name: "issuer-key", Required: true, Usage: "issuer private key file (issuer.key)", EnvVars: []string{"LICBRIDGE_ISSUER_KEY"}}
}

// withService runs do on the issuer service (daemon.WithIssuer: the database
// opened, and the signing key read when the command has --issuer-key), once
// the command's one argument is there (arg names it; none when empty). An
// error is worded with the command's name.
func withService(c *cli.Context, arg string, do func(s *issuer.Service) error) error {
	if arg != "" && c.NArg() != 1 {
		return cli.Exit("issuer "+c.Command.Name+": name one "+arg, 2)
	}
	cfg, err := loadConfig(c)
	if err == nil {
		err = licd.WithIssuer(c.Context, cfg, c.String("db"), c.String("issuer-key"), slog.Default(), do)
	}
	if err != nil {
		return fmt.Errorf("issuer %s: %w", c.Command.Name, err)
	}
	return nil
}

func issuerServeCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve online activation (register, deactivate, update) over HTTP(S)",
		Description: "JSON API, every call a POST of {\"key_id\", \"host_id\"[, \"domain\"]}: /v1/register,\n" +
			"/v1/deactivate, /v1/fetch. Attempts are rate-limited per key and per client\n" +
			"address and written to the audit table; logs name keys only by a short hash.",
		Flags: []cli.Flag{
			issuerKeyFlag(), dbFlag(),
			&cli.StringFlag{Name: "listen", Value: issuer.DefaultListen, Usage: "address to listen on", EnvVars: []string{"LICBRIDGE_ISSUER_LISTEN"}},
			&cli.StringFlag{Name: "tls-cert", Usage: "TLS certificate file (with --tls-key: serve HTTPS)", EnvVars: []string{"LICBRIDGE_ISSUER_TLS_CERT"}},
			&cli.StringFlag{Name: "tls-key", Usage: "TLS private key file", EnvVars: []string{"LICBRIDGE_ISSUER_TLS_KEY"}},
			&cli.Float64Flag{Name: "rate-per-key", Value: issuer.DefaultPerKey, Usage: "attempts per minute per key", EnvVars: []string{"LICBRIDGE_ISSUER_RATE_PER_KEY"}},
			&cli.Float64Flag{Name: "rate-per-address", Value: issuer.DefaultPerAddress, Usage: "attempts per minute per client address", EnvVars: []string{"LICBRIDGE_ISSUER_RATE_PER_ADDRESS"}},
		},
		Action: issuerServeAction,
	}
}

func issuerServeAction(c *cli.Context) error {
	cert, key := c.String("tls-cert"), c.String("tls-key")
	if (cert == "") != (key == "") {
		return cli.Exit("issuer serve: --tls-cert and --tls-key go together", 2)
	}
	return withService(c, "", func(s *issuer.Service) error {
		return issuer.Serve(c.Context, s, issuer.ServeOptions{Listen: c.String("listen"), CertFile: cert, KeyFile: key,
			Limits: issuer.RateLimits{PerKey: c.Float64("rate-per-key"), PerAddress: c.Float64("rate-per-address")}})
	})
}

func issuerEntitleCommand() *cli.Command {
	env := func(n string) []string { return []string{"LICBRIDGE_ENTITLE_" + n} }
	return &cli.Command{
		Name:  "entitle",
		Usage: "record a new entitlement and print its key ID (the activation code: keep it secret)",
		Flags: []cli.Flag{
			dbFlag(),
			&cli.StringFlag{Name: "product", Required: true, Usage: "product: g729, hpec, fax, ffa or one from the config", EnvVars: env("PRODUCT")},
			&cli.IntFlag{Name: "channels", Required: true, Usage: "channels the key grants (ffa: 1)", EnvVars: env("CHANNELS")},
			&cli.StringFlag{Name: "ends", Usage: "formal end date (default: a year; 30 days for trial and emergency)", EnvVars: env("ENDS")},
			&cli.BoolFlag{Name: "auto-renew", Usage: "the subscription renews automatically", EnvVars: env("AUTO_RENEW")},
			&cli.StringFlag{Name: "kind", Value: string(license.KindCommercial), Usage: "commercial, trial or emergency", EnvVars: env("KIND")},
			&cli.StringFlag{Name: "customer", Usage: "customer name, for your records", EnvVars: env("CUSTOMER")},
			&cli.BoolFlag{Name: "domain-bound", Usage: "issue files bound to the node's domain rather than its host ID", EnvVars: env("DOMAIN_BOUND")},
		},
		Action: func(c *cli.Context) error {
			p := issuer.EntitleParams{Product: c.String("product"), Channels: c.Int("channels"), Kind: license.Kind(c.String("kind")),
				AutoRenew: c.Bool("auto-renew"), Customer: c.String("customer"), DomainBound: c.Bool("domain-bound")}
			if c.IsSet("ends") {
				t, err := license.ParseTime(c.String("ends"))
				if err != nil {
					return fmt.Errorf("issuer entitle: --ends: %w", err)
				}
				p.Ends = t
			}
			return withService(c, "", func(s *issuer.Service) error {
				e, err := s.Entitle(c.Context, p)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, e.KeyID)
				fmt.Fprintf(c.App.ErrWriter, "entitled: %s\n", e.Summary())
				return nil
			})
		},
	}
}

func issuerModifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "modify",
		Usage:     "change an entitlement (renewal, channel upgrade); hosts pick it up with `license update`",
		ArgsUsage: "KEY-ID",
		Flags: []cli.Flag{
			dbFlag(),
			&cli.StringFlag{Name: "ends", Usage: "new formal end date"},
			&cli.IntFlag{Name: "channels", Usage: "new channel count"},
			&cli.BoolFlag{Name: "auto-renew", Usage: "set (or with =false clear) auto-renewal"},
			&cli.StringFlag{Name: "customer", Usage: "new customer name"},
		},
		Action: func(c *cli.Context) error {
			p := issuer.ModifyParams{Channels: given(c, "channels", c.Int), AutoRenew: given(c, "auto-renew", c.Bool), Customer: given(c, "customer", c.String)}
			if c.IsSet("ends") {
				t, err := license.ParseTime(c.String("ends"))
				if err != nil {
					return cli.Exit("issuer modify: --ends: "+err.Error(), 2)
				}
				p.Ends = &t
			}
			return withEntitlement("modify", p)(c)
		},
	}
}

func issuerRevokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "revoke an entitlement: no more activations or updates (installed files run to their end)",
		ArgsUsage: "KEY-ID",
		Flags:     []cli.Flag{dbFlag()},
		Action:    withEntitlement("revoke", issuer.ModifyParams{Revoke: true}),
	}
}

// withEntitlement modifies the entitlement named by the one argument.
func withEntitlement(what string, p issuer.ModifyParams) cli.ActionFunc {
	return answer("key ID", func(s *issuer.Service, ctx context.Context, keyID string) (issuer.Entitlement, error) {
		return s.Modify(ctx, keyID, p)
	}, func(w io.Writer, e issuer.Entitlement) error {
		_, err := fmt.Fprintf(w, "%s: %s\n", what, e.Summary())
		return err
	})
}

// answer is the action of an issuer command that asks the service (given
// the command's one argument, when arg names it: see withService) and
// writes what it answers.
func answer[T any](arg string, ask func(s *issuer.Service, ctx context.Context, arg string) (T, error), write func(io.Writer, T) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		return withService(c, arg, func(s *issuer.Service) error {
			v, err := ask(s, c.Context, c.Args().First())
			if err != nil {
				return err
			}
			return write(c.App.Writer, v)
		})
	}
}

func issuerListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the entitlements and how many hosts hold each",
		Flags: []cli.Flag{dbFlag()},
		Action: answer("", func(s *issuer.Service, ctx context.Context, _ string) ([]issuer.Listed, error) {
			return s.List(ctx)
		}, issuer.WriteList),
	}
}

func issuerActivationsCommand() *cli.Command {
	return &cli.Command{
		Name:      "activations",
		Usage:     "list the hosts a key is activated on",
		ArgsUsage: "KEY-ID",
		Flags:     []cli.Flag{dbFlag()},
		Action:    answer("key ID", (*issuer.Service).Activations, issuer.WriteActivations),
	}
}

func issuerDeactivateCommand() *cli.Command {
	return &cli.Command{
		Name:      "deactivate",
		Usage:     "free a host's slot of a key (the host's installed file still runs to its end date)",
		ArgsUsage: "KEY-ID",
		Flags: []cli.Flag{
			dbFlag(),
			&cli.StringFlag{Name: "host-id", Required: true, Usage: "the host ID to free"},
		},
		Action: func(c *cli.Context) error {
			host, err := license.ParseHostID(c.String("host-id"))
			if err != nil && c.NArg() == 1 { // without the key ID, withService says so first
				return fmt.Errorf("issuer deactivate: --host-id: %w", err)
			}
			return withService(c, "key ID", func(s *issuer.Service) error {
				if err := s.Deactivate(c.Context, issuer.Request{KeyID: c.Args().First(), HostID: host}, "cli"); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "deactivated for host %s\n", host)
				return nil
			})
		},
	}
}

func issuerAnswerCommand() *cli.Command {
	return &cli.Command{
		Name:      "answer",
		Usage:     "answer an offline activation request (from `license request`) with a key file",
		ArgsUsage: "REQUEST.json",
		Flags: []cli.Flag{
			issuerKeyFlag(), dbFlag(),
			&cli.StringFlag{Name: "out", Required: true, Usage: "key file to write (KEY.lic), to carry to the host's `license install`"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite an existing file"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("issuer answer: name one request file", 2)
			}
			req, err := issuer.ReadRequestFile(c.Args().First())
			if err != nil {
				return fmt.Errorf("issuer answer: %w", err)
			}
			return withService(c, "", func(s *issuer.Service) error {
				if err := s.Answer(c.Context, req, c.String("out"), c.Bool("force")); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s: key file for host %s\n", c.String("out"), req.HostID)
				return nil
			})
		},
	}
}
