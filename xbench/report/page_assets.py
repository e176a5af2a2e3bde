"""The inline stylesheet and script of the HTML pages (run page and leaderboard): no CDN, no network, so a
page opens from disk in any browser.  The script sorts any ``table.sortable`` on a header click, filters the
rows of the table an ``input[data-filter]`` names, and switches the sample a heatmap browser shows."""

from __future__ import annotations

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1400px;
padding:0 18px 40px;color:#1d2433;background:#fff}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:26px 0 8px;border-bottom:1px solid #dde2ea}
h3{font-size:15px;margin:18px 0 6px}p.note{color:#566;font-size:12.5px;margin:4px 0 8px}
details{margin:8px 0;border:1px solid #dde2ea;border-radius:6px;padding:6px 10px;background:#f8fafc}
summary{cursor:pointer;font-weight:600}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border:1px solid #dde2ea;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef2f7;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2";font-size:10px}
table.sortable th[aria-sort=descending]::after{content:" \\25BC";font-size:10px}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.hidden{display:none}
input[data-filter]{font:inherit;padding:4px 8px;width:340px;margin:4px 0}
pre{font-size:11.5px;white-space:pre-wrap;max-height:420px;overflow:auto}
.yes{background:#b9e4c2}.no{background:#f6d0c8}.na{background:#eceff3;color:#889}
.scroll{overflow:auto;max-height:560px}
img.plot{max-width:100%;border:1px solid #eef0f4;margin:4px 0}
.maps{display:flex;flex-wrap:wrap;gap:10px}
.maps figure{margin:0;text-align:center;font-size:11.5px;width:140px}
.maps img{width:132px;height:132px;object-fit:contain;image-rendering:pixelated;
border:1px solid #dde2ea;background:#fff}
.sample{display:none}.sample.shown{display:block}
.picker button{font:inherit;margin:0 4px 4px 0;padding:2px 10px;border:1px solid #aab;border-radius:4px;background:#fff;
cursor:pointer}.picker button.on{background:#1d4ed8;color:#fff;border-color:#1d4ed8}
nav a{margin-right:12px}
"""

JS = """
(function(){
function cellValue(td){var v=td.getAttribute('data-v');if(v===null)v=td.textContent.trim();
  var f=parseFloat(v);return (v!==''&&!isNaN(f)&&isFinite(v))?f:v.toLowerCase();}
function sortBy(th){var table=th.closest('table'),body=table.tBodies[0],
  idx=Array.prototype.indexOf.call(th.parentNode.children,th);
  var asc=th.getAttribute('aria-sort')!=='ascending';
  Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute('aria-sort');});
  th.setAttribute('aria-sort',asc?'ascending':'descending');
  var rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){var x=cellValue(a.cells[idx]),y=cellValue(b.cells[idx]);
    var nx=typeof x==='number',ny=typeof y==='number';
    if(nx&&ny)return asc?x-y:y-x; if(nx)return -1; if(ny)return 1;
    return asc?(x<y?-1:x>y?1:0):(x<y?1:x>y?-1:0);});
  rows.forEach(function(r){body.appendChild(r);});}
document.querySelectorAll('table.sortable th').forEach(function(th){
  th.addEventListener('click',function(){sortBy(th);});});
document.querySelectorAll('input[data-filter]').forEach(function(inp){
  var table=document.getElementById(inp.getAttribute('data-filter'));
  inp.addEventListener('input',function(){var terms=inp.value.toLowerCase().split(/\\s+/).filter(Boolean);
    Array.prototype.forEach.call(table.tBodies[0].rows,function(r){var t=r.textContent.toLowerCase();
      r.classList.toggle('hidden',!terms.every(function(w){return t.indexOf(w)>=0;}));});});});
document.querySelectorAll('.browser').forEach(function(br){
  var buttons=br.querySelectorAll('.picker button');
  buttons.forEach(function(b){b.addEventListener('click',function(){
    buttons.forEach(function(o){o.classList.toggle('on',o===b);});
    br.querySelectorAll('.sample').forEach(function(s){
      s.classList.toggle('shown',s.getAttribute('data-sample')===b.getAttribute('data-sample'));});});});});
})();
"""
