"""The trained blame detector: evidence features of a sentence, scored by a shipped linear model.

`evidence` turns a sentence into named features (who is the agent, what the predicate says, how it
is framed, which words it uses); `model` scores them with weights trained at development time
(`bench/train_language.py`) and shipped as `checks/data/language_model.json`, in pure Python.
"""
