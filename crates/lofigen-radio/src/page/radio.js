// lofigen radio's page: plays /stream.mp3, draws a live spectrogram of what it hears (Web Audio
// AnalyserNode), shows /status, and sends /control. No library, no CDN.
"use strict";

const $ = (id) => document.getElementById(id);
const audio = $("player");
const playButton = $("play");
const canvas = $("spectrogram");
const g = canvas.getContext("2d");

let ctx = null; // AudioContext, made on the first press of play (browsers require a gesture)
let analyser = null;
let gain = null;
let bins = null;
let wave = null;

function setupAudio() {
  ctx = new AudioContext();
  const source = ctx.createMediaElementSource(audio);
  analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  analyser.smoothingTimeConstant = 0.5;
  gain = ctx.createGain();
  gain.gain.value = Number($("volume").value);
  // The analyser sits before the volume: the picture does not fade with it.
  source.connect(analyser);
  analyser.connect(gain);
  gain.connect(ctx.destination);
  bins = new Uint8Array(analyser.frequencyBinCount);
  wave = new Float32Array(analyser.fftSize);
  requestAnimationFrame(draw);
}

async function play() {
  if (!ctx) setupAudio();
  // A live stream: resuming starts from now, not from where it was paused.
  audio.src = "/stream.mp3?t=" + Date.now();
  await ctx.resume();
  await audio.play();
}

function pause() {
  audio.pause();
  // Dropping the source closes the connection, rather than leaving the server to notice.
  audio.removeAttribute("src");
  audio.load();
}

playButton.addEventListener("click", async () => {
  if (audio.paused) {
    playButton.disabled = true;
    try {
      await play();
    } catch (e) {
      say("cannot play: " + e.message, true);
    } finally {
      playButton.disabled = false;
    }
  } else {
    pause();
  }
});
audio.addEventListener("play", () => { playButton.innerHTML = "&#10074;&#10074; pause"; });
audio.addEventListener("pause", () => { playButton.innerHTML = "&#9654; play"; });
audio.addEventListener("timeupdate", () => {
  const t = Math.floor(audio.currentTime);
  $("clock").textContent = Math.floor(t / 60) + ":" + String(t % 60).padStart(2, "0");
});
$("volume").addEventListener("input", (e) => {
  const v = Number(e.target.value);
  if (gain) gain.gain.value = v; else audio.volume = v;
});

// Dusk palette: night violet -> rose -> amber, by loudness.
function colour(v) {
  const stops = [[13, 11, 20], [74, 42, 110], [200, 107, 152], [242, 166, 90], [255, 236, 190]];
  const x = (v / 255) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  const f = x - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")";
}

// A scrolling spectrogram: time to the left, log frequency up (40 Hz to 16 kHz).
function draw() {
  requestAnimationFrame(draw);
  if (!analyser || audio.paused) return;
  analyser.getByteFrequencyData(bins);
  const w = canvas.width, h = canvas.height, step = 2;
  g.drawImage(canvas, -step, 0);
  const nyquist = ctx.sampleRate / 2;
  const lo = Math.log(40), hi = Math.log(Math.min(16000, nyquist));
  for (let y = 0; y < h; y++) {
    const hz = Math.exp(lo + (hi - lo) * (1 - y / h));
    const bin = Math.min(bins.length - 1, Math.round((hz / nyquist) * bins.length));
    g.fillStyle = colour(bins[bin]);
    g.fillRect(w - step, y, step, 1);
  }
}

// The loudest sample the analyser sees now (0: silence): for tests and the curious.
window.radioLevel = function () {
  if (!analyser) return 0;
  analyser.getFloatTimeDomainData(wave);
  let peak = 0;
  for (const x of wave) peak = Math.max(peak, Math.abs(x));
  return peak;
};

function say(text, error) {
  const m = $("message");
  m.textContent = text;
  m.classList.toggle("error", !!error);
}

const musicInputs = ["bpm", "chords", "swing", "groove", "guidance"];

async function refresh() {
  try {
    const s = await (await fetch("/status")).json();
    const c = s.controls;
    const parts = [s.model, c.fx + " effects"];
    if (c.bpm != null) parts.push(Math.round(c.bpm) + " BPM");
    if (c.chords) parts.push(c.chords);
    if (c.swing != null && c.swing > 0) parts.push("swing " + c.swing);
    if (c.groove) parts.push(c.groove);
    parts.push(s.listeners + (s.listeners === 1 ? " listener" : " listeners"));
    $("now-playing").textContent = "now playing: " + parts.join(" \u00b7 ");
    $("attribution").textContent = s.attribution || "";
    if (document.activeElement !== $("fx")) $("fx").value = c.fx;
    for (const id of musicInputs) $(id).disabled = !c.music_controls;
    $("music-note").textContent = c.music_controls
      ? "tempo, chords, swing and groove change at the next bar, guidance at once, for every listener"
      : "this model was trained without musical controls: tempo, chords, swing and groove are off";
  } catch (e) {
    $("now-playing").textContent = "the radio does not answer";
  }
}

$("controls").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { fx: $("fx").value };
  for (const id of musicInputs) {
    const el = $(id);
    if (!el.disabled && el.value.trim() !== "") body[id] = el.value.trim();
  }
  const r = await fetch("/control", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (r.ok) say("applied; you hear it in a few seconds (the buffer)"); else say(await r.text(), true);
  refresh();
});
$("fx").addEventListener("change", () => $("controls").requestSubmit());

refresh();
setInterval(refresh, 2000);
