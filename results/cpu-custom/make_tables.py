"""Two small custom tables from the tiny vocabulary: 4 classes (tiny-bert), 6 classes (tiny-llama)."""
# Usage: python results/cpu-custom/make_tables.py   (writes /tmp/custom/verbs4 and /tmp/custom/topics6)
import csv, json, random, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fixtures.data import synthetic as s

def sentence(rng, subject, verb):
    words = subject.split() + [verb] + ([rng.choice(["very", "really", "quite"])] if rng.random() < .5 else [])
    words.append(rng.choice(s.POSITIVE + s.NEGATIVE))
    for _ in range(rng.randint(0, 2)):
        words.insert(rng.randint(0, len(words)), rng.choice(s.DISTRACTORS))
    return " ".join(words)

def write(folder, header, rows_by_split, schema):
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in rows_by_split.items():
        with open(folder / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f); w.writerow(header); w.writerows(rows)
    (folder / "dataset.json").write_text(json.dumps(schema, indent=1))

rng = random.Random(0)
verbs = {"was": "past", "is": "present", "felt": "feeling", "seemed": "impression"}
def four(n):
    out = []
    for _ in range(n):
        v = rng.choice(list(verbs)); out.append((verbs[v], sentence(rng, rng.choice(s.SUBJECTS), v)))
    return out
write(Path("/tmp/custom/verbs4"), ["tense", "comment"], {"train": four(600), "validation": four(200)},
      {"text": "comment", "label": "tense"})
subjects = {"the movie": "movie", "this film": "film", "the plot": "plot", "the acting": "acting", "the story": "story", "the cast": "cast"}
def six(n):
    out = []
    for _ in range(n):
        subj = rng.choice(list(subjects)); out.append((sentence(rng, subj, rng.choice(s.VERBS)), subjects[subj]))
    return out
write(Path("/tmp/custom/topics6"), ["review", "about"], {"train": six(600), "test": six(240)},
      {"text": "review", "label": "about", "labels": list(subjects.values()), "template": "{text} . about:"})
