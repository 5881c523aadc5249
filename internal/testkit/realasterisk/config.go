package realasterisk

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// modules are the only ones loaded (autoload is off): the dialplan apps the
// printed routines use, FastAGI, ARI, PJSIP with RTP and T.38, fax, HEP.
var modules = []string{
	// dialplan
	"pbx_config.so", "app_stack.so", "app_verbose.so", "app_exec.so", "app_dial.so", "app_echo.so",
	"app_playtones.so", "app_transfer.so", "app_blind_transfer.so", "app_attended_transfer.so",
	"func_channel.so", "func_strings.so", "func_callerid.so", "func_logic.so", "func_hangupcause.so",
	// FastAGI
	"res_speech.so", "res_agi.so",
	// ARI
	"res_http_websocket.so", "res_websocket_client.so", "res_stasis.so", "res_stasis_answer.so", "res_stasis_playback.so",
	"res_stasis_recording.so", "res_stasis_snoop.so", "res_stasis_device_state.so", "app_stasis.so",
	"res_ari.so", "res_ari_model.so", "res_ari_applications.so", "res_ari_asterisk.so",
	"res_ari_bridges.so", "res_ari_channels.so", "res_ari_device_states.so", "res_ari_endpoints.so",
	"res_ari_events.so", "res_ari_playbacks.so", "res_ari_recordings.so", "res_ari_sounds.so",
	// bridging, timing, codecs
	"res_timing_timerfd.so", "bridge_simple.so", "bridge_native_rtp.so", "bridge_softmix.so",
	"bridge_holding.so", "bridge_builtin_features.so", "codec_ulaw.so", "codec_alaw.so", "codec_a_mu.so",
	"res_format_attr_g729.so",
	// PJSIP
	"res_pjproject.so", "res_sorcery_config.so", "res_sorcery_memory.so", "res_sorcery_astdb.so",
	"res_pjsip.so", "res_pjsip_session.so", "chan_pjsip.so", "res_pjsip_endpoint_identifier_user.so",
	"res_pjsip_authenticator_digest.so", "res_pjsip_outbound_authenticator_digest.so",
	"res_pjsip_sdp_rtp.so", "res_rtp_asterisk.so", "res_pjsip_caller_id.so", "res_pjsip_t38.so",
	"res_pjsip_pubsub.so", "res_pjsip_refer.so", "func_pjsip_endpoint.so",
	// fax
	"res_fax.so", "res_fax_spandsp.so",
}

var hepModules = []string{"res_hep.so", "res_hep_pjsip.so", "res_hep_rtcp.so"}

// installRoot is the directory above sbin/asterisk (/opt/asterisk22), where the
// modules and the XML documentation are.
func installRoot(bin string) string {
	if p, err := filepath.EvalSymlinks(bin); err == nil {
		bin = p
	}
	return filepath.Dir(filepath.Dir(bin))
}

func (a *Asterisk) writeConfig(opts Options, amiPort, httpPort int) error {
	root := installRoot(a.bin)
	for _, d := range []string{"run", "log", "spool", "db", "agi-bin"} {
		if err := os.MkdirAll(filepath.Join(a.Dir, d), 0o755); err != nil {
			return err
		}
	}
	user := opts.ManagerUser
	if user == "" {
		user = ReadmeManagerUser
	}
	user = strings.ReplaceAll(user, "CHANGE-ME", LicbridgeSecret)
	mods := append(append([]string(nil), modules...), opts.ExtraModules...)
	hep := ""
	if opts.HEPAddr != "" {
		mods = append(mods, hepModules...)
		hep = fmt.Sprintf("[general]\nenabled = yes\ncapture_address = %s\ncapture_id = 1234\nuuid_type = call-id\n", opts.HEPAddr)
	} else {
		hep = "[general]\nenabled = no\n"
	}
	var modConf strings.Builder
	modConf.WriteString("[modules]\nautoload = no\n")
	for _, m := range mods {
		fmt.Fprintf(&modConf, "load = %s\n", m)
	}
	d := a.Dir
	files := map[string]string{
		"asterisk.conf": fmt.Sprintf(`[directories]
astetcdir => %[1]s
astmoddir => %[2]s/lib/asterisk/modules
astvarlibdir => %[2]s/var/lib/asterisk
astdbdir => %[1]s/db
astkeydir => %[1]s
astdatadir => %[2]s/var/lib/asterisk
astagidir => %[1]s/agi-bin
astspooldir => %[1]s/spool
astrundir => %[1]s/run
astlogdir => %[1]s/log
astsbindir => %[2]s/sbin

[options]
documentation_language = en_US
hideconnect = yes
`, d, root),
		"modules.conf": modConf.String(),
		"logger.conf":  "[general]\n[logfiles]\nconsole => notice,warning,error\nmessages.log => notice,warning,error,verbose\n",
		"manager.conf": fmt.Sprintf(`[general]
enabled = yes
port = %d
bindaddr = 127.0.0.1

[%s]
secret = %s
read = all
write = all
permit = 127.0.0.1/255.255.255.255

%s`, amiPort, adminUser, adminSecret, user),
		"http.conf": fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", httpPort),
		"ari.conf":  fmt.Sprintf("[general]\nenabled = yes\n\n[%s]\ntype = user\nread_only = no\npassword = %s\n", LicbridgeUser, LicbridgeSecret),
		"pjsip.conf": fmt.Sprintf(`[global]
type = global
endpoint_identifier_order = username

[t-alice]
type = transport
protocol = udp
bind = 127.0.0.1:%[1]d

[t-bob]
type = transport
protocol = udp
bind = 127.0.0.1:%[2]d

; One Asterisk calling itself: Dial(PJSIP/alice) sends an INVITE from alice's
; transport to bob's with From alice and Request-URI user bob; it comes back in
; as a call from endpoint alice (identified by the From user) to exten bob in
; lbtest-from-alice. PJSIP/bob is the same the other way round.
[alice]
type = aor
contact = sip:bob@127.0.0.1:%[2]d

[alice]
type = endpoint
transport = t-alice
aors = alice
context = lbtest-from-alice
from_user = alice
disallow = all
allow = ulaw,alaw,g729
direct_media = no
t38_udptl = yes
t38_udptl_ec = redundancy

[bob]
type = aor
contact = sip:alice@127.0.0.1:%[1]d

[bob]
type = endpoint
transport = t-bob
aors = bob
context = lbtest-from-bob
from_user = bob
disallow = all
allow = ulaw,alaw,g729
direct_media = no
t38_udptl = yes
t38_udptl_ec = redundancy

; carol and dave are the same pair speaking G.729 only: a call between them
; bridges two G.729 legs with no translation (passthrough).
[carol]
type = aor
contact = sip:dave@127.0.0.1:%[2]d

[carol]
type = endpoint
transport = t-alice
aors = carol
context = lbtest-from-carol
from_user = carol
disallow = all
allow = g729
direct_media = no

[dave]
type = aor
contact = sip:carol@127.0.0.1:%[1]d

[dave]
type = endpoint
transport = t-bob
aors = dave
context = lbtest-from-dave
from_user = dave
disallow = all
allow = g729
direct_media = no
`, a.SIPPorts[0], a.SIPPorts[1]),
		"rtp.conf":     "[general]\nrtpstart = 20000\nrtpend = 40000\n",
		"hep.conf":     hep,
		"res_fax.conf": "[general]\nstatusevents = yes\n",
		// Files Asterisk complains about when they are missing, kept minimal so
		// that its console shows only what the test should look at.
		// (features.conf: AMI Atxfer needs an attended transfer feature code;
		// no sounds are installed, so the transfer prompts are off.)
		"stasis.conf":           "[threadpool]\n",
		"ccss.conf":             "[general]\n",
		"cdr.conf":              "[general]\nenable = no\n",
		"cel.conf":              "[general]\nenable = no\n",
		"features.conf":         "[general]\ntransferannouncesound =\nxfersound =\nxferfailsound =\n\n[featuremap]\natxfer => *2\n",
		"acl.conf":              "",
		"udptl.conf":            "[general]\nudptlstart = 40001\nudptlend = 50000\n",
		"pjproject.conf":        "",
		"websocket_client.conf": "",
		"indications.conf":      "[general]\ncountry = us\n\n[us]\ndescription = United States\nringcadence = 2000,4000\ndial = 350+440\nbusy = 480+620/500,0/500\nring = 440+480/2000,0/4000\ncongestion = 480+620/250,0/250\ncallwaiting = 440/300,0/10000\ndialrecall = !350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440\nrecord = 1400/500,0/15000\ninfo = !950/330,!1400/330,!1800/330,0\n",
		"extensions.conf": `[general]
static = yes
writeprotect = yes

[globals]

; An idle leg: answers and waits (the other half of an originated call).
[lbtest-idle]
exten => s,1,Answer()
 same => n,Wait(120)
 same => n,Hangup()

` + opts.Dialplan,
	}
	files["pjsip.conf"] += opts.ExtraPJSIP
	for name, body := range opts.ExtraFiles {
		if _, ok := files[name]; ok {
			return fmt.Errorf("extra file %s: the generated configuration has it already", name)
		}
		files[name] = body
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
