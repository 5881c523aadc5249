package sipmon

import (
	"bytes"
	"strconv"
)

// sdpInfo is what counting needs from one SDP body. Only the first m=audio line
// decides the codec: its first payload type is the one in use (RFC 3264 §6.1 makes
// the answerer list its preferred format first), which is also how the fixtures'
// ground truth is defined.
type sdpInfo struct {
	present bool
	// codec names the first payload of the first active m=audio line ("PCMU",
	// "G729", ...), or "" when there is none.
	codec string
	// t38 is true when an m=image line with a non-zero port offers or accepts
	// udptl t38.
	t38 bool
}

// staticPayloads names the static RTP payload types of RFC 3551 that matter here.
var staticPayloads = map[string]string{
	"0": "PCMU", "3": "GSM", "4": "G723", "8": "PCMA", "9": "G722",
	"13": "CN", "15": "G728", "18": "G729",
}

// staticPayload is staticPayloads[pt], without hashing: it runs on every
// SDP body.
func staticPayload(pt []byte) (string, bool) {
	switch string(pt) {
	case "0":
		return "PCMU", true
	case "3":
		return "GSM", true
	case "4":
		return "G723", true
	case "8":
		return "PCMA", true
	case "9":
		return "G722", true
	case "13":
		return "CN", true
	case "15":
		return "G728", true
	case "18":
		return "G729", true
	}
	return "", false
}

// trimRightSpaceCR is bytes.TrimRight(b, "\r \t") without building the
// cutset's set on every call.
func trimRightSpaceCR(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case '\r', ' ', '\t':
			b = b[:len(b)-1]
		default:
			return b
		}
	}
	return b
}

// parseSDP scans an SDP body. It never fails: a body it cannot read yields an
// sdpInfo with present set and nothing else, because a broken SDP does not make the
// SIP message malformed.
func parseSDP(body []byte) sdpInfo {
	info := sdpInfo{present: true}
	var (
		inAudio   bool // inside the first m=audio section
		audioDone bool // the first m=audio section is behind us
		firstPT   string
	)
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		line = trimRightSpaceCR(line)
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		switch line[0] {
		case 'm':
			if inAudio {
				inAudio, audioDone = false, true
			}
			media, port, proto, formats := splitMedia(line[2:])
			first, _ := nextField(formats)
			switch {
			case string(media) == "audio" && !audioDone && string(port) != "0" && len(first) > 0:
				inAudio = true
				firstPT = string(first)
				if name, ok := staticPayload(first); ok {
					info.codec = name
				}
			case string(media) == "image" && string(port) != "0" && bytes.EqualFold(proto, []byte("udptl")):
				for f, rest := nextField(formats); len(f) > 0; f, rest = nextField(rest) {
					if bytes.EqualFold(f, []byte("t38")) {
						info.t38 = true
					}
				}
			}
		case 'a':
			// a=rtpmap:<pt> <encoding>/<clock>[/<channels>]
			if !inAudio || !bytes.HasPrefix(line[2:], []byte("rtpmap:")) {
				continue
			}
			rest := line[len("a=rtpmap:"):]
			sp := indexSpace(rest)
			if sp < 0 || string(rest[:sp]) != firstPT {
				continue
			}
			enc := bytes.TrimSpace(rest[sp+1:])
			if slash := bytes.IndexByte(enc, '/'); slash >= 0 {
				enc = enc[:slash]
			}
			if len(enc) > 0 {
				info.codec = canonicalCodec(enc)
			}
		}
	}
	if info.codec == "" && firstPT != "" {
		// A dynamic payload type without rtpmap: name it by number.
		if _, err := strconv.Atoi(firstPT); err == nil {
			info.codec = "PT" + firstPT
		}
	}
	return info
}

// codecNames interns the usual encoding names.
var codecNames = []string{"PCMU", "PCMA", "G722", "G723", "GSM", "OPUS", "SPEEX", "ILBC", "AMR", "AMR-WB", "TELEPHONE-EVENT", "CN"}

// canonicalCodec upper-cases an rtpmap encoding name and folds the spellings of
// G.729 (G729, G729A, G729B, G.729) into "G729".
func canonicalCodec(enc []byte) string {
	if len(enc) >= 4 && bytes.EqualFold(enc[:4], []byte("G729")) || len(enc) >= 5 && bytes.EqualFold(enc[:5], []byte("G.729")) {
		return "G729"
	}
	for _, n := range codecNames {
		if bytes.EqualFold(enc, []byte(n)) {
			return n
		}
	}
	return string(bytes.ToUpper(enc))
}

// splitMedia splits "audio 16000 RTP/AVP 8 101" into its parts without
// allocating: formats is the rest of the line ("8 101"). The port may carry
// "/<count>".
func splitMedia(s []byte) (media, port, proto, formats []byte) {
	media, s = nextField(s)
	port, s = nextField(s)
	proto, s = nextField(s)
	if i := bytes.IndexByte(port, '/'); i >= 0 {
		port = port[:i]
	}
	return media, port, proto, s
}

// nextField returns the first space-separated field of s and the rest.
func nextField(s []byte) (field, rest []byte) {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	i := indexSpace(s)
	if i < 0 {
		return s, nil
	}
	return s[:i], s[i+1:]
}
