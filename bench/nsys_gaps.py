import csv, sys, statistics as st
rows = list(csv.DictReader(open(sys.argv[1])))
# columns: Start (ns), Duration (ns), ..., Name
def f(r, *keys):
    for k in keys:
        if k in r: return r[k]
    raise KeyError(keys)
ks = [r for r in rows if 'DecodeAttention' in f(r, 'Name')]
print('decode kernels', len(ks))
if not ks: sys.exit()
start = [float(f(r, 'Start (ns)', 'Start')) for r in ks]
dur = [float(f(r, 'Duration (ns)', 'Duration')) for r in ks]
gaps = [start[i+1] - (start[i] + dur[i]) for i in range(len(ks)-1)]
gaps_in_token = [g for g in gaps if g < 50000]
print('median kernel us %.2f  p10 %.2f p90 %.2f' % (st.median(dur)/1e3, sorted(dur)[len(dur)//10]/1e3, sorted(dur)[9*len(dur)//10]/1e3))
print('median gap us %.2f  p90 %.2f (within token, n=%d)' % (st.median(gaps_in_token)/1e3, sorted(gaps_in_token)[9*len(gaps_in_token)//10]/1e3, len(gaps_in_token)))
names = sorted(set(f(r,'Name')[:90] for r in ks)); print('\n'.join(names[:4]))
