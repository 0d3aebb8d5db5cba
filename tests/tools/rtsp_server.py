#!/usr/bin/python3
"""A real RTSP server for the IP-camera tests: GStreamer's rtsp-server publishing a moving
test picture encoded by x264 (Constrained Baseline, zerolatency, a keyframe every second,
SPS and PPS with each) at rtsp://127.0.0.1:PORT/cam.

Usage: rtsp_server.py PORT WIDTHxHEIGHT FPS [USER PASSWORD]
With USER and PASSWORD the stream needs HTTP Basic credentials, as IP cameras do.
Prints "ready" once it listens. Run with Debian's /usr/bin/python3 (the one with `gi`)."""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

port, size, fps = sys.argv[1], sys.argv[2], int(sys.argv[3])
width, height = size.split("x")
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={fps}/1 "
    f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} "
    f"! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)
factory.set_shared(True)
if len(sys.argv) >= 6:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "camera")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(sys.argv[4], sys.argv[5]), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("camera", "media.factory.access", True)
    permissions.add_permission_for_role("camera", "media.factory.construct", True)
    factory.set_permissions(permissions)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{port}")
print("ready", flush=True)
GLib.MainLoop().run()
