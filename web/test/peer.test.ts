import { describe, expect, it } from "vitest";

import { vp9Preferences } from "../src/media/peer";

describe("video codec preferences", () => {
  it("keep VP9 (every profile) and RTX, and nothing else", () => {
    const codec = (mimeType: string, sdpFmtpLine?: string): RTCRtpCodec => ({ mimeType, clockRate: 90000, ...(sdpFmtpLine ? { sdpFmtpLine } : {}) });
    const offered = [codec("video/VP8"), codec("video/rtx"), codec("video/VP9", "profile-id=0"), codec("video/H264"), codec("video/VP9", "profile-id=2"), codec("video/AV1")];
    expect(vp9Preferences({ codecs: offered, headerExtensions: [] }).map((c) => `${c.mimeType} ${c.sdpFmtpLine ?? ""}`.trim())).toEqual([
      "video/VP9 profile-id=0",
      "video/VP9 profile-id=2",
      "video/rtx",
    ]);
    expect(vp9Preferences(null)).toEqual([]);
  });
});
