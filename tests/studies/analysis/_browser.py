"""Open a report in headless Chromium and read back what the page did: console errors, whether
every plotly div drew, whether anything overflows the window, whether the confusion dropdown
overlaps its title; and take a screenshot. Used by test_report_browser.py and by
docs/gen_screenshot.py (the README's screenshot), so the picture in the docs is the tested page.

Plain Chromium command line (no Playwright, which would download its own browser): the checks
run as a small script injected into the page, which writes its findings into the DOM, and
``--dump-dom`` prints the DOM after the page settled.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--hide-scrollbars", "--mute-audio", "--disable-dev-shm-usage",
)

# First thing in <head>: record every error before plotly.js or a figure script runs.
CAPTURE = """<script>window.__layerlabErrors=[];
window.addEventListener('error',function(e){__layerlabErrors.push('error: '+(e.message||e.type))},true);
window.addEventListener('unhandledrejection',function(e){__layerlabErrors.push('rejection: '+e.reason)});
(function(){var o=console.error;console.error=function(){__layerlabErrors.push('console.error: '+Array.prototype.join.call(arguments,' '));return o.apply(console,arguments)}})();
</script>"""

# Last thing in <body>: after the figures drew, write the findings into a <pre>. Besides errors and
# drawing: per figure, pairs of tick labels (or parallel-coordinate axis labels) that overlap (each
# label's box mapped to the screen with its rotation, compared by separating axes: two labels
# rotated 30 degrees side by side have overlapping bounding rectangles but no overlapping ink) and
# titles that run past the figure's edge (plotly never wraps them; the svg cuts them); per table,
# whether the decision columns (th[data-decision]) are visible without scrolling and whether the
# table is wider than its box; and numbers in scientific notation split over two lines.
CHECK = """<script>window.addEventListener('load',function(){setTimeout(function(){
if(window.__layerlabOpen)[].slice.call(document.querySelectorAll('details')).forEach(function(d){d.open=true});
function all(root,sel){return [].slice.call(root.querySelectorAll(sel))}
function box(el){var r=el.getBoundingClientRect();
  return {left:r.left,right:r.right,top:r.top,bottom:r.bottom,width:r.width,height:r.height}}
function overlap(a,b){return a.left<b.right&&b.left<a.right&&a.top<b.bottom&&b.top<a.bottom}
function quad(e){var b=e.getBBox(),m=e.getScreenCTM(),x0=b.x+1,x1=b.x+b.width-1,y0=b.y+1,y1=b.y+b.height-1;
  return [[x0,y0],[x1,y0],[x1,y1],[x0,y1]].map(function(c){return [m.a*c[0]+m.c*c[1]+m.e,m.b*c[0]+m.d*c[1]+m.f]})}
function apart(p,q){var ps=[p,q];
  for(var k=0;k<2;k++){var r=ps[k];for(var i=0;i<4;i++){var a=r[i],b=r[(i+1)%4],nx=a[1]-b[1],ny=b[0]-a[0];
    var pp=p.map(function(c){return c[0]*nx+c[1]*ny}),qq=q.map(function(c){return c[0]*nx+c[1]*ny});
    if(Math.max.apply(null,pp)<=Math.min.apply(null,qq)||Math.max.apply(null,qq)<=Math.min.apply(null,pp))return true}}
  return false}
function overlaps(els){var out=[],bs=els
  .filter(function(e){return e.textContent.trim()&&e.getBoundingClientRect().width>0})
  .map(function(e){return {t:e.textContent,q:quad(e)}});
  for(var i=0;i<bs.length;i++)for(var j=i+1;j<bs.length;j++)if(!apart(bs[i].q,bs[j].q))out.push([bs[i].t,bs[j].t]);
  return out}
var plots=all(document,'.plotly-graph-div').map(function(d){
  var shapes=d.querySelectorAll('.main-svg path, .main-svg text, .main-svg rect, .main-svg image').length;
  var canvases=all(d,'canvas').filter(function(c){return c.width>0&&c.height>0}).length;
  var menu=d.querySelector('.updatemenu-container'), title=d.querySelector('.gtitle'), menuTitleOverlap=null;
  if(menu&&title){var mb=menu.getBoundingClientRect(), tb=title.getBoundingClientRect();
    menuTitleOverlap=overlap(mb,tb)&&mb.width>0&&tb.width>0}
  // tick labels per axis; Optuna 5 draws the parallel coordinates' tick labels as annotations
  var groups=all(d,'.xaxislayer-above, .yaxislayer-above').map(function(g){return all(g,'text')});
  groups.push(all(d,'.annotation-text'));
  var tickOverlaps=[];groups.forEach(function(g){tickOverlaps=tickOverlaps.concat(overlaps(g))});
  var db=d.getBoundingClientRect(), cut=[];
  all(d,'.gtitle, .g-xtitle text, .g-ytitle text, .annotation-text').forEach(function(t){
    var r=t.getBoundingClientRect();
    if(r.width>0&&(r.left<db.left-1||r.right>db.right+1||r.top<db.top-1))cut.push(t.textContent)});
  return {id:d.id,drawn:!!d._fullLayout,svgShapes:shapes,canvases:canvases,box:box(d),
          title:title?title.textContent:null,menuTitleOverlap:menuTitleOverlap,tickOverlaps:tickOverlaps,
          cutTitles:cut}});
var tables=all(document,'table').map(function(t){
  var wrap=t.parentElement, wb=wrap.getBoundingClientRect(), right=Math.min(wb.right,window.innerWidth);
  var hidden=all(t,'th[data-decision]').filter(function(th){return th.getBoundingClientRect().right>right+1})
    .map(function(th){return th.textContent});
  var sec=t.closest('section'), h=sec?sec.querySelector('h2'):null;
  return {section:h?h.textContent:null,decision:t.querySelectorAll('th[data-decision]').length,hiddenDecision:hidden,
          width:t.getBoundingClientRect().width,boxWidth:wb.width,folded:!!t.closest('details:not([open])')}});
var split=[], re=/\\d(?:\\.\\d+)?e[-+]\\d+/g, walker=document.createTreeWalker(document.body,NodeFilter.SHOW_TEXT);
while(walker.nextNode()){var n=walker.currentNode,m;
  // the report's own text: plotly's figures (ticks checked above), styles and scripts are not prose
  if(!n.parentElement||n.parentElement.closest('details:not([open]),svg,script,style,noscript,pre,.js-plotly-plot'))continue;
  re.lastIndex=0;
  while((m=re.exec(n.textContent))){
    var rg=document.createRange();rg.setStart(n,m.index);rg.setEnd(n,m.index+m[0].length);
    var rects=[].slice.call(rg.getClientRects()).filter(function(r){return r.width>0});
    if(rects.length>1&&rects[0].top!==rects[rects.length-1].top)
      split.push(m[0]+' in <'+n.parentElement.tagName.toLowerCase()+' class='+n.parentElement.className+'>: '
                 +n.textContent.slice(Math.max(0,m.index-40),m.index+m[0].length+20))}}
var out={errors:window.__layerlabErrors,plots:plots,tables:tables,splitNumbers:split,innerWidth:window.innerWidth,
         scrollWidth:document.documentElement.scrollWidth,plotlyLoaded:typeof Plotly!=='undefined'};
var pre=document.createElement('pre');pre.id='layerlab-check';pre.textContent=JSON.stringify(out);
document.body.appendChild(pre);},1500)});</script>"""


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def instrument(page: str, *, open_details: bool = False) -> str:
    """The page with the capture script first in <head> and the check last in <body>;
    ``open_details``: every <details> is opened before the measurements (folded tables too)."""
    capture = CAPTURE + ("<script>window.__layerlabOpen=true</script>" if open_details else "")
    page = page.replace("<head>", "<head>" + capture, 1) if "<head>" in page else capture + page
    return page.replace("</body>", CHECK + "</body>", 1) if "</body>" in page else page + CHECK


def _run(chromium: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="layerlab-chromium-") as profile:
        return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def check_page(html_path: str | Path, *, width: int = 1400, height: int = 1000, chromium: str | None = None,
               timeout: float = 120, open_details: bool = False) -> dict[str, Any]:
    """Load ``html_path`` (a copy with the checks injected) at ``width`` x ``height`` and return
    ``{errors, plots: [{id, drawn, svgShapes, canvases, box, title, menuTitleOverlap, tickOverlaps,
    cutTitles}], tables: [{section, decision, hiddenDecision, width, boxWidth, folded}],
    splitNumbers, innerWidth, scrollWidth, plotlyLoaded, console}``; ``console`` holds the
    console lines Chromium logged on stderr."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium on PATH")
    html_path = Path(html_path)
    probe = html_path.with_name(html_path.stem + f".check-{width}.html")
    probe.write_text(instrument(html_path.read_text(encoding="utf-8"), open_details=open_details), encoding="utf-8")
    try:
        done = _run(chromium, [f"--window-size={width},{height}", "--virtual-time-budget=20000",
                               "--enable-logging=stderr", "--v=0", "--dump-dom", probe.resolve().as_uri()], timeout)
    finally:
        probe.unlink(missing_ok=True)
    match = re.search(r'<pre id="layerlab-check">(.*?)</pre>', done.stdout, re.S)
    if match is None:
        raise RuntimeError(f"the page's check did not run (chromium exit {done.returncode}): {done.stderr[-2000:]}")
    import html as html_lib

    result = json.loads(html_lib.unescape(match.group(1)))
    result["console"] = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return result


def screenshot(html_path: str | Path, out_png: str | Path, *, width: int = 1400, height: int = 1600,
               chromium: str | None = None, timeout: float = 120) -> Path:
    """A PNG of the top ``height`` pixels of the page at ``width``."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium on PATH")
    out_png = Path(out_png).resolve()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    done = _run(chromium, [f"--window-size={width},{height}", "--virtual-time-budget=20000",
                           f"--screenshot={out_png}", Path(html_path).resolve().as_uri()], timeout)
    if not out_png.exists() or out_png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}")
    return out_png


# -- a small study whose report exercises every kind of figure ------------------------------------

SAMPLE_LAYERS = {"full": 0.93, "no-BN": 0.90, "no-Conv": 0.62, "no-PL": 0.926, "no-DropL": 0.931}
SAMPLE_LRS = (0.00045664880966915603, 0.0031622776601683794)  # sampled-looking floats: labels must round them


def sample_study(storage: str | None = None, name: str = "lolo-sample"):
    """Leave-one-layer-out x two learning rates, 3 seed repeats, with learning curves and confusion
    matrices: one clear effect (no-Conv), one small one and undecided ones."""
    import numpy as np
    import optuna

    from searchspace import Categorical, Space
    from studies import StudySpec
    from tests.studies.analysis._synthetic import grid_study

    def attrs(params, repeat):
        acc = SAMPLE_LAYERS[params["layers"]] - (0.01 if params["lr"] > 0.001 else 0.0)
        rng = np.random.default_rng(repeat)
        hits = int(round(acc * 50))
        return {
            "history": [{"epoch": e, "val_accuracy": round(acc * (1 - 0.5 ** e) + rng.normal(0, 0.005), 4)} for e in range(1, 9)],
            "confusion": (np.eye(10, dtype=int) * hits + (50 - hits) // 9).tolist(),
            "config": {"family": "seq", "dataset": "digits", **params},
        }

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = grid_study({"layers": tuple(SAMPLE_LAYERS), "lr": SAMPLE_LRS},
                       lambda p: SAMPLE_LAYERS[p["layers"]] - (0.01 if p["lr"] > 0.001 else 0.0),
                       repeats=3, noise=0.006, storage=storage, name=name, extra_attrs=attrs)
    space = Space([Categorical("layers", choices=tuple(SAMPLE_LAYERS)), Categorical("lr", choices=SAMPLE_LRS)])
    spec = StudySpec(space=space, name="lolo-sample", description="leave one layer out x two learning rates (synthetic)",
                     baseline={"layers": "full"}, repeats=3)
    study.set_user_attr("layerlab", {"spec": spec.to_dict(), "fingerprint": spec.fingerprint()})
    return study


def numeric_study():
    """A random-sampled study with float and int parameters: Optuna's slice and contour plots."""
    import optuna

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: 0.9 - (t.suggest_float("lr", 1e-5, 1e-1, log=True) - 0.003) ** 2
                   - 0.01 * t.suggest_int("depth", 1, 4) - 0.1 * t.suggest_float("dropout", 0.0, 0.5), n_trials=20)
    return study


TPE_OPTIMIZERS = ("sgd", "adam", "adamw")
TPE_INITS = ("default", "he_normal", "xavier_uniform")


def tpe_study(n_configs: int = 24, repeats: int = 2, *, seed: int = 0, name: str = "tpe-sample"):
    """A study sampled by Optuna's TPE, in layerlab's trial layout (config_id, repeat, seed,
    history, confusion), with long sampled floats in every label (lr and weight_decay on a log
    scale, dropout linear) and two categoricals: optimizer matters (adam, adamw +0.04 over sgd),
    lr has an optimum inside its range, dropout a falling trend, init and weight_decay nothing."""
    import math

    import numpy as np
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(seed)
    dists = {
        "optimizer": optuna.distributions.CategoricalDistribution(TPE_OPTIMIZERS),
        "init": optuna.distributions.CategoricalDistribution(TPE_INITS),
        "lr": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
        "weight_decay": optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True),
        "dropout": optuna.distributions.FloatDistribution(0.0, 0.5),
    }

    def truth(p):
        return (0.90 + (0.04 if p["optimizer"] != "sgd" else 0.0) - 0.012 * (math.log10(p["lr"]) + 3) ** 2
                - 0.04 * p["dropout"])

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=6)
    driver = optuna.create_study(direction="maximize", sampler=sampler)
    study = optuna.create_study(study_name=name, direction="maximize")
    for c in range(n_configs):
        ask = driver.ask(dists)
        p = dict(ask.params)
        values = []
        for r in range(repeats):
            acc = float(np.clip(truth(p) + rng.normal(0, 0.01), 0, 1))
            values.append(acc)
            hits = int(round(acc * 50))
            attrs = {
                "config_id": f"tpe{c:03d}", "repeat": r, "seed": 100 + r, "test_accuracy": acc - 0.01,
                "config": {"family": "seq", "dataset": "digits", **p},
                "history": [{"epoch": e, "val_accuracy": round(acc * (1 - 0.5 ** e), 4)} for e in range(1, 7)],
                "confusion": (np.eye(10, dtype=int) * hits + (50 - hits) // 9).tolist(),
            }
            study.add_trial(optuna.trial.create_trial(params=p, distributions=dists, value=acc, user_attrs=attrs))
        driver.tell(ask, float(np.mean(values)))
    return study
