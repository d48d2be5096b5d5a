"""`transferkit distill`: a small student learns a (large) classify teacher's outputs.

A user with few labels and much unlabelled in-domain text can afford a big encoder at
training time but wants a small one at prediction time. The teacher, any finished classify
run, labels the user's unlabelled texts and its own labelled training texts with class
probabilities; the student, a pretrained encoder with a new classification head, is
trained on those probabilities (knowledge distillation, Hinton et al. 2015). The student
reads the texts, never the teacher's tokens, so any teacher teaches any student: a tfidf
run teaches MiniLM, mpnet teaches MiniLM.

- `config.py`: the options (`DistillConfig`; no torch, the CLI reads it);
- `teacher.py`: the teacher run checked and opened, its labelled texts drawn as its run
  drew them, and the labelling of many texts in shards on an executor (local or Ray);
- `student.py`: the soft-label loss and the student trained in the training loop;
- `run.py`: the flow, into an ordinary classify run directory of the student.

The unlabelled texts are read by `tasks/unlabeled.py`, which `train --unlabeled` shares.
"""
